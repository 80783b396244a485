/* loadgen dashboard: the live part of the report page, inlined only in the
 * page a dashboard serves (loadgen/src/html/mod.rs, render_live). It
 * subscribes to the server-sent events at the path in the <html> attribute
 * data-live; each event is {"final": bool, "data": <report data>} and is
 * drawn by report.js (window.loadgenReport.draw). The <html> element counts
 * the updates drawn in data-updates; the final report sets data-final and
 * data-status="done" and closes the stream (the server ends with the run).
 * `?updates=N` in the page's address stops following after N updates: a
 * snapshot of the run so far (what a headless browser can dump or capture
 * while the run goes on; the browser test uses it). */
(function () {
  'use strict';
  var root = document.documentElement;
  var updates = 0;
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
    source.onopen = function () { root.setAttribute('data-connection', 'open'); };
    source.onmessage = function (e) {
      var frame;
      try {
        frame = JSON.parse(e.data);
      } catch (err) {
        api.error('a live update is not JSON: ' + err.message);
        return;
      }
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
      if (root.getAttribute('data-final') !== '1') root.setAttribute('data-connection', 'retrying');
    };
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
}());
