/* loadgen web: the control page's script. Start posts the form as JSON to
 * api/runs (a refusal or a bad value comes back as {"error":{"message"}}
 * and is shown as text); Stop posts api/stop; api/status is polled for the
 * state, the last error and the result files. The charts are the live
 * report page in the frame (reloaded when a run starts). The <html>
 * element carries data-state, data-verdict and data-error for tests. */
(function () {
  'use strict';
  var root = document.documentElement;
  var errors = 0;
  window.addEventListener('error', function () {
    errors += 1;
    root.setAttribute('data-js-errors', String(errors));
  });

  function $(id) { return document.getElementById(id); }
  var shown = null;

  function showMessage(text) {
    var box = $('message');
    box.hidden = !text;
    box.textContent = text || '';
    if (text) root.setAttribute('data-error', text);
    else root.removeAttribute('data-error');
  }

  function render(s) {
    root.setAttribute('data-state', s.state);
    if (s.verdict) root.setAttribute('data-verdict', s.verdict);
    else root.removeAttribute('data-verdict');
    if (!$('target').value && s.base_url) $('target').value = s.base_url;
    var text = { idle: 'No run yet.', running: 'Running\u2026', done: 'Done: ' + s.verdict + ' (exit code ' + s.exit_code + ')', failed: 'The run failed.' }[s.state] || s.state;
    $('state').textContent = text;
    if (s.error !== shown) {
      shown = s.error;
      showMessage(s.error);
    }
    var list = $('downloads');
    list.textContent = '';
    (s.downloads || []).forEach(function (name) {
      var a = document.createElement('a');
      a.href = 'results/' + encodeURIComponent(name);
      a.setAttribute('download', name);
      a.textContent = name;
      var li = document.createElement('li');
      li.appendChild(a);
      list.appendChild(li);
    });
    $('stop-button').disabled = s.state !== 'running';
    // The report frame opens once there is a run to show (an idle page
    // holds no event stream open).
    var frame = $('live');
    if (s.state !== 'idle' && !frame.getAttribute('src')) {
      frame.src = 'live/';
      frame.hidden = false;
    }
  }

  function poll() {
    fetch('api/status', { cache: 'no-store' }).then(function (r) { return r.json(); }).then(render)
      .catch(function () { $('state').textContent = 'The server does not answer.'; });
  }

  $('start').addEventListener('submit', function (e) {
    e.preventDefault();
    var f = e.target, body = {};
    ['target', 'profile', 'vus', 'duration', 'stages'].forEach(function (k) { body[k] = f.elements[k].value; });
    body.stream = f.elements.stream.checked;
    body.allow_non_test_backend = f.elements.allow_non_test_backend.checked;
    fetch('api/runs', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
      .then(function (r) {
        return r.json().then(function (j) {
          if (!r.ok) {
            shown = j.error ? j.error.message : 'HTTP ' + r.status;
            showMessage(shown);
          } else {
            showMessage('');
            $('live').src = 'live/?run=' + j.run;
            $('live').hidden = false;
          }
          poll();
        });
      })
      .catch(function (err) { showMessage('cannot start: ' + err.message); });
  });
  $('stop-button').addEventListener('click', function () {
    fetch('api/stop', { method: 'POST' }).then(poll);
  });

  poll();
  setInterval(poll, 1000);
}());
