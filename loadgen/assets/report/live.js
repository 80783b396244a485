/* loadgen dashboard: the live part of the report page, inlined only in the
 * page a dashboard serves (loadgen/src/html/mod.rs, render_live). It
 * subscribes to the server-sent events at the path in the <html> attribute
 * data-live; each event is {"final": bool, "data": <report data>} and is
 * drawn by report.js (window.loadgenReport.draw). The <html> element counts
 * the updates drawn in data-updates; the final report sets data-final and
 * data-status="done" and closes the stream (the server ends with the run).
 * `?updates=N` in the page's address stops following after N updates: a
 * snapshot of the run so far (what a headless browser can dump or capture
 * while the run goes on; the browser test uses it).
 * When the stream breaks before the final report, the verdict banner says
 * so; after MAX_RETRIES failed reconnections in a row (about a minute at the
 * browser's default retry) the page stops retrying and says the dashboard
 * is gone: a run killed without its final report must not look RUNNING. */
(function () {
  'use strict';
  var root = document.documentElement;
  var updates = 0;
  var MAX_RETRIES = 20;
  var failures = 0;
  var limit = parseInt(new URLSearchParams(window.location.search).get('updates'), 10);

  function start() {
    var api = window.loadgenReport;
    var path = root.getAttribute('data-live');
    if (!api || !path) return;
    if (typeof EventSource !== 'function') {
      api.error('this browser has no EventSource: the page cannot update live');
      return;
    }
    var source = new EventSource(path);
    // The line in the verdict banner about the connection (none while it is fine).
    function say(text) {
      var box = document.getElementById('verdict');
      var line = box && box.querySelector('.connection');
      if (!text) {
        if (line) line.parentNode.removeChild(line);
        return;
      }
      if (!box) return;
      if (!line) {
        line = document.createElement('span');
        line.className = 'connection';
        box.appendChild(line);
      }
      line.textContent = text;
    }
    source.onopen = function () { root.setAttribute('data-connection', 'open'); say(''); };
    source.onmessage = function (e) {
      var frame;
      try {
        frame = JSON.parse(e.data);
      } catch (err) {
        api.error('a live update is not JSON: ' + err.message);
        return;
      }
      failures = 0;
      api.draw(frame.data);
      updates += 1;
      root.setAttribute('data-updates', String(updates));
      if (!frame.final && limit > 0 && updates >= limit) {
        source.close();
        root.setAttribute('data-connection', 'closed');
      } else if (frame.final) {
        source.close();
        root.setAttribute('data-final', '1');
        root.setAttribute('data-connection', 'closed');
        root.setAttribute('data-status', 'done');
      }
    };
    // The server goes away with the run; until the final report came, the
    // browser retries by itself. Not an error of the page.
    source.onerror = function () {
      if (root.getAttribute('data-final') === '1') return;
      failures += 1;
      if (failures >= MAX_RETRIES) {
        source.close();
        root.setAttribute('data-connection', 'lost');
        say('the dashboard stopped answering before the final report: the run ended or was stopped');
        return;
      }
      root.setAttribute('data-connection', 'retrying');
      say('connection lost, retrying (' + failures + ' of ' + MAX_RETRIES + ')');
    };
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
}());
