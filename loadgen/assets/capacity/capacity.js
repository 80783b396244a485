/* loadgen capacity page: renders the JSON in #capacity-data (capacity.json,
 * inlined by loadgen/src/capacity/html.rs). Strings from the data go into
 * the page through textContent only. Runs before uPlot's script and draws
 * on DOMContentLoaded; errors land in #js-errors and data-js-errors, and
 * data-charts / data-rendered say how many charts exist and painted. */
(function () {
  'use strict';
  var root = document.documentElement;
  var errors = 0;
  function noteError(m) {
    errors += 1;
    root.setAttribute('data-js-errors', String(errors));
    var box = document.getElementById('js-errors');
    if (box) {
      box.hidden = false;
      var li = document.createElement('li');
      li.textContent = String(m);
      box.querySelector('ul').appendChild(li);
    }
  }
  window.addEventListener('error', function (e) { noteError(e.message || 'error'); });
  document.addEventListener('securitypolicyviolation', function (e) {
    noteError('blocked by the content security policy: ' + e.violatedDirective);
  });

  function el(tag, props, kids) {
    var e = document.createElement(tag);
    Object.keys(props || {}).forEach(function (k) {
      if (k === 'text') e.textContent = props[k];
      else if (k === 'class') e.className = props[k];
      else e.setAttribute(k, props[k]);
    });
    (kids || []).forEach(function (c) {
      if (c !== null && c !== undefined) e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return e;
  }
  function isNum(v) { return typeof v === 'number' && isFinite(v); }
  function fx(v, d) { return isNum(v) ? v.toFixed(d) : '\u2013'; }
  function load(v) { return isNum(v) ? String(v) : '\u2013'; }

  function facts(d) {
    var dl = document.querySelector('#run .facts');
    var s = d.settings;
    [['Target', d.target], ['Profile', d.profile + ' (latency ' + d.latency_profile + ')'],
     ['Model', d.model + ', load in ' + d.unit], ['Each step', s.settle_s + ' s settle + ' + s.hold_s + ' s hold'],
     ['Ladder', s.ladder.join(', ')], ['Bisection', s.bisect + ' rounds'],
     ['Started', d.started_at], ['Outcome', d.outcome + ' (exit ' + d.exit_code + ')'],
     ['Goodput', d.goodput_definition]].forEach(function (f) {
      dl.appendChild(el('dt', { text: f[0] }));
      dl.appendChild(el('dd', { text: String(f[1]) }));
    });
  }

  function verdict(d) {
    var v = document.getElementById('verdict');
    if (isNum(d.knee)) {
      v.textContent = 'Knee: ' + load(d.knee) + ' ' + d.unit + (d.outcome === 'max_held' ? ' (every step held)' : '');
      v.className = 'verdict pass';
    } else {
      v.textContent = 'No knee: ' + d.outcome;
      v.className = 'verdict fail';
    }
  }

  function broken(d) {
    var sec = document.getElementById('broken');
    var rows = d.thresholds.map(function (t) {
      var b = d.broken.filter(function (x) { return x.threshold === t; })[0];
      return el('tr', {}, [el('td', { text: t }),
        el('td', { text: b ? load(b.load) + ' ' + d.unit : 'held at every step' }),
        el('td', { 'class': 'num', text: b ? fx(b.actual, 4) : '\u2013' })]);
    });
    sec.appendChild(el('table', {}, [el('thead', {}, [el('tr', {}, [el('th', { text: 'threshold' }), el('th', { text: 'first broke at' }), el('th', { text: 'value there' })])]), el('tbody', {}, rows)]));
  }

  function sorted(d) {
    return d.steps.slice().sort(function (a, b) { return a.load - b.load || a.index - b.index; });
  }

  function table(d) {
    var sec = document.getElementById('steps');
    var head = ['load', 'kind', 'req/s', 'iter/s', 'err %', 'p50 ms', 'p95 ms', 'p99 ms', 'goodput/s', 'good %'];
    if (d.stream) head = head.concat(['TTFT p50', 'TTFT p95']);
    head = head.concat(['per phase p50/p95/p99', 'verdict']);
    var rows = sorted(d).map(function (s) {
      var cells = [load(s.load), s.kind, fx(s.requests_per_s, 1), fx(s.iterations_per_s, 2), fx(s.error_rate * 100, 2),
        fx(s.latency.p50_ms, 0), fx(s.latency.p95_ms, 0), fx(s.latency.p99_ms, 0), fx(s.goodput.per_s, 1), fx(s.goodput.ratio * 100, 1)];
      if (d.stream) cells = cells.concat([fx(s.ttft && s.ttft.p50_ms, 0), fx(s.ttft && s.ttft.p95_ms, 0)]);
      cells.push(s.phases.map(function (p) { return p.phase + ' ' + fx(p.p50_ms, 0) + '/' + fx(p.p95_ms, 0) + '/' + fx(p.p99_ms, 0); }).join(', '));
      var ok = s.interrupted ? 'interrupted' : (s.held ? 'held' : 'FAILED');
      var tr = el('tr', { 'class': s.held ? '' : 'failed' }, cells.map(function (c, i) { return el('td', { 'class': i > 1 && i < head.length - 2 ? 'num' : '', text: c }); }));
      tr.appendChild(el('td', { 'class': s.held ? 'pass' : 'fail', text: ok }));
      return tr;
    });
    sec.appendChild(el('table', { id: 'steps-table' }, [el('thead', {}, [el('tr', {}, head.map(function (h) { return el('th', { text: h }); }))]), el('tbody', {}, rows)]));
  }

  function chart(d) {
    var grid = document.querySelector('#charts .chart-grid');
    var steps = sorted(d).filter(function (s) { return !s.interrupted; });
    if (!steps.length) { grid.appendChild(el('p', { 'class': 'note', text: 'No step was measured.' })); return 0; }
    if (typeof uPlot !== 'function') throw new Error('the chart library did not load');
    var x = steps.map(function (s) { return s.load; });
    var pick = function (f) { return steps.map(f); };
    var fig = el('figure', { 'class': 'chart' }, [el('figcaption', { text: 'p50/p95/p99 (ms, left) and goodput (req/s, right) against load (' + d.unit + '); the dashed line is the knee' })]);
    grid.appendChild(fig);
    var plot = el('div', {});
    fig.appendChild(plot);
    var knee = d.knee;
    var opts = {
      width: Math.max(320, Math.min(960, grid.clientWidth || 800)), height: 320,
      scales: { x: { time: false }, good: {} },
      axes: [{ label: d.unit }, { label: 'ms' }, { side: 1, scale: 'good', label: 'goodput/s', grid: { show: false } }],
      series: [{ label: d.unit },
        { label: 'p50', stroke: '#2ca02c', points: { show: true } },
        { label: 'p95', stroke: '#ff7f0e', points: { show: true } },
        { label: 'p99', stroke: '#d62728', points: { show: true } },
        { label: 'goodput/s', stroke: '#1f77b4', scale: 'good', width: 2, points: { show: true } }],
      hooks: { draw: [function (u) {
        if (isNum(knee)) {
          var cx = u.valToPos(knee, 'x', true);
          var ctx = u.ctx;
          ctx.save();
          ctx.strokeStyle = '#444c56';
          ctx.setLineDash([6, 4]);
          ctx.beginPath();
          ctx.moveTo(cx, u.bbox.top);
          ctx.lineTo(cx, u.bbox.top + u.bbox.height);
          ctx.stroke();
          ctx.restore();
        }
        fig.setAttribute('data-painted', '1');
        root.setAttribute('data-rendered', String(document.querySelectorAll('figure[data-painted]').length));
      }] }
    };
    new uPlot(opts, [x, pick(function (s) { return s.latency.p50_ms; }), pick(function (s) { return s.latency.p95_ms; }),
      pick(function (s) { return s.latency.p99_ms; }), pick(function (s) { return s.goodput.per_s; })], plot);
    return 1;
  }

  document.addEventListener('DOMContentLoaded', function () {
    try {
      var d = JSON.parse(document.getElementById('capacity-data').textContent);
      verdict(d);
      facts(d);
      broken(d);
      table(d);
      root.setAttribute('data-charts', String(chart(d)));
      root.setAttribute('data-status', 'ok');
    } catch (e) {
      noteError(e && e.message ? e.message : e);
      root.setAttribute('data-status', 'error');
    }
  });
})();
