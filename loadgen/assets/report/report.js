/* loadgen report: renders the JSON in #report-data (inlined by
 * loadgen/src/html/mod.rs). Every string from the data goes into the page
 * through textContent, never as markup. Errors are caught into #js-errors
 * and the <html> attribute data-js-errors; once drawn, data-charts says how
 * many charts the page has and data-rendered how many painted their lines
 * (the browser test reads these). This script runs before uPlot's, so its
 * error handler sees everything; it draws on DOMContentLoaded. */
(function () {
  'use strict';
  var root = document.documentElement;
  var errorCount = 0;

  function noteError(message) {
    errorCount += 1;
    root.setAttribute('data-js-errors', String(errorCount));
    var box = document.getElementById('js-errors');
    if (box) {
      box.hidden = false;
      var li = document.createElement('li');
      li.textContent = String(message);
      box.querySelector('ul').appendChild(li);
    }
  }
  window.addEventListener('error', function (e) {
    noteError((e.message || 'error') + (e.lineno ? ' (line ' + e.lineno + ')' : ''));
  });
  window.addEventListener('unhandledrejection', function (e) {
    noteError('unhandled rejection: ' + (e.reason && e.reason.message ? e.reason.message : e.reason));
  });
  // A script blocked by the page's policy means something tried to run
  // that was not ours: report it as loudly as an error.
  document.addEventListener('securitypolicyviolation', function (e) {
    noteError('blocked by the content security policy: ' + e.violatedDirective);
  });

  var PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f', '#d62728'];
  var FAIL = '#d62728';
  var DASH = '\u2013';

  function el(tag, props, kids) {
    var e = document.createElement(tag);
    var k;
    for (k in props || {}) {
      if (!Object.prototype.hasOwnProperty.call(props, k)) continue;
      if (k === 'text') e.textContent = props[k];
      else if (k === 'class') e.className = props[k];
      else e.setAttribute(k, props[k]);
    }
    (kids || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return e;
  }

  function isNum(v) { return typeof v === 'number' && isFinite(v); }
  function group(n) { return Math.round(n).toLocaleString('en-US'); }
  function fmtMs(v) {
    if (!isNum(v)) return DASH;
    if (v >= 100) return group(v);
    if (v >= 10) return v.toFixed(1);
    return v.toFixed(2);
  }
  function fmtRate(v) { return isNum(v) ? (v >= 1000 ? group(v) : v.toFixed(2)) : DASH; }
  function fmtInt(v) { return isNum(v) ? group(v) : DASH; }
  function fmtPct(num, den) { return den > 0 ? (100 * num / den).toFixed(2) + '%' : DASH; }
  function fmtBytes(b) {
    if (!isNum(b)) return DASH;
    if (b < 1e3) return b + ' B';
    if (b < 1e6) return (b / 1e3).toFixed(1) + ' kB';
    if (b < 1e9) return (b / 1e6).toFixed(1) + ' MB';
    return (b / 1e9).toFixed(2) + ' GB';
  }
  function fmtDuration(s) {
    if (!isNum(s)) return DASH;
    if (s < 120) return s.toFixed(1) + ' s';
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.round(s % 60);
    return h > 0 ? h + 'h ' + m + 'm ' + sec + 's' : m + 'm ' + sec + 's';
  }
  function pad2(n) { return (n < 10 ? '0' : '') + n; }
  function fmtElapsed(s, span) {
    if (!isNum(s)) return DASH;
    if (span < 120) return (Math.round(s * 10) / 10) + 's';
    var t = Math.round(s), h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), sec = t % 60;
    return h > 0 ? h + ':' + pad2(m) + ':' + pad2(sec) : m + ':' + pad2(sec);
  }
  function fmtTick(v) {
    return isNum(v) ? v.toLocaleString('en-US', { maximumFractionDigits: 2 }) : '';
  }
  function fmtActual(v, unit) {
    if (!isNum(v)) return 'no data';
    if (unit === 'ms') return fmtMs(v) + ' ms';
    if (unit === 'fraction') return (100 * v).toFixed(2) + '%';
    if (unit === '/s') return fmtRate(v) + '/s';
    if (unit === 'tokens/s') return fmtRate(v) + ' tokens/s';
    return fmtInt(v);
  }

  function table(headers, rows, cls) {
    var thead = el('thead', null, [el('tr', null, headers.map(function (h, i) {
      return el('th', { text: h, 'class': i === 0 ? 'name' : '', scope: 'col' });
    }))]);
    return el('div', { 'class': 'table-wrap' }, [el('table', { 'class': cls || '' }, [thead, el('tbody', null, rows)])]);
  }
  function row(cls, cells) {
    return el('tr', { 'class': cls || '' }, cells.map(function (c, i) {
      if (c && typeof c === 'object' && c.text !== undefined) {
        return el('td', { text: c.text, 'class': (i === 0 ? 'name ' : '') + (c.cls || '') });
      }
      return el('td', { text: c, 'class': i === 0 ? 'name' : '' });
    }));
  }

  function verdict(d) {
    var v = d.verdict, box = document.getElementById('verdict');
    var failed = d.thresholds.filter(function (t) { return !t.passed; }).length;
    var word, detail;
    if (v.status === 'running') {
      word = 'RUNNING';
      detail = fmtDuration(d.run.duration_s) + ' so far, ' + fmtInt(d.totals.requests) + ' requests, ' +
        fmtInt(d.totals.failures) + ' failed';
    } else if (v.status === 'aborted') {
      word = 'ABORTED';
      detail = v.reason ? 'the run was aborted: ' + v.reason : 'the run was aborted';
    } else if (v.status === 'failed') {
      // Failed thresholds (exit 99), or a regression against --baseline (98), or both.
      var regressions = d.comparison ? d.comparison.rows.filter(function (r) { return r.verdict === 'regression'; }).length : 0;
      var against = regressions + ' regression' + (regressions === 1 ? '' : 's') + ' against the baseline';
      if (failed) {
        word = 'THRESHOLD FAILED';
        detail = failed + ' of ' + d.thresholds.length + ' thresholds failed' + (regressions ? '; ' + against : '');
      } else {
        word = 'REGRESSED';
        detail = against + (d.thresholds.length ? '; all ' + d.thresholds.length + ' thresholds held' : '');
      }
    } else {
      word = 'PASSED';
      detail = d.thresholds.length ? 'all ' + d.thresholds.length + ' thresholds held' : 'no thresholds';
    }
    box.className = 'verdict ' + v.status;
    box.textContent = '';
    box.appendChild(el('span', { 'class': 'word', text: word }));
    box.appendChild(el('span', { 'class': 'detail', text: detail }));
    if (v.status !== 'running') box.appendChild(el('span', { 'class': 'exit', text: 'exit code ' + v.exit_code }));
    document.title = 'loadgen report: ' + word.toLowerCase() + ' \u00b7 ' + d.run.target;
  }

  function facts(d) {
    var r = d.run, t = d.totals, dl = document.querySelector('#run .facts');
    var plan = 'up to ' + r.vus_max_planned + ' VUs planned (' + r.vus_max + ' seen), ' + fmtDuration(r.duration_s);
    var items = [
      ['Target', r.target],
      ['Mode', r.mode],
      ['Profile', r.profile || DASH],
      ['Latency profile', r.latency_profile || DASH],
      ['Plan', plan],
      ['Seed', r.seed || DASH],
      ['Started', r.started_at],
      // A live page's run has not finished: its "finished" is only the latest update.
      ['Finished', d.verdict.status === 'running' ? DASH : r.finished_at],
      ['Ended', d.verdict.ended],
      ['Requests', fmtInt(t.requests) + ' (' + fmtRate(t.requests_per_s) + '/s)'],
      ['Failed', fmtInt(t.failures) + ' (' + fmtPct(t.failures, t.requests) + ')'],
      ['Iterations', fmtInt(t.iterations) + ' (' + fmtRate(t.iterations_per_s) + '/s)'],
      ['Data', fmtBytes(t.bytes_received) + ' received, ' + fmtBytes(t.bytes_sent) + ' sent'],
      ['Checks', fmtInt(t.checks_passed) + ' passed, ' + fmtInt(t.checks_failed) + ' failed']
    ];
    if (t.dropped_iterations > 0) {
      items.push(['Dropped iterations', fmtInt(t.dropped_iterations) + ' (scheduled, no free VU)']);
    }
    if (t.lateness_p95_ms !== null) {
      items.push(['Iteration lateness', 'p95 ' + t.lateness_p95_ms + ' ms, max ' + t.lateness_max_ms +
        ' ms (start past the scheduled start)']);
    }
    if (r.merged_from.length) items.push(['Merged from', r.merged_from.join(', ')]);
    items.forEach(function (it) {
      dl.appendChild(el('div', null, [el('dt', { text: it[0] }), el('dd', { text: String(it[1]) })]));
    });
    document.getElementById('tool').textContent = 'loadgen ' + r.tool_version;
  }

  function thresholds(d) {
    var sec = document.getElementById('thresholds');
    if (!d.thresholds.length) {
      sec.appendChild(el('p', { 'class': 'note', text: 'No thresholds were evaluated.' }));
    } else {
      sec.appendChild(table(['Threshold', 'Actual', 'Result'], d.thresholds.map(function (t) {
        return row(t.passed ? 'pass' : 'fail', [t.expression, fmtActual(t.actual, t.unit),
          { text: t.passed ? '\u2713 pass' : '\u2717 fail', cls: t.passed ? 'pass' : 'fail' }]);
      }), 'thresholds'));
    }
    if (d.skipped_thresholds.length) {
      sec.appendChild(el('p', { text: 'Not evaluated:' }));
      sec.appendChild(el('ul', { 'class': 'skipped' }, d.skipped_thresholds.map(function (s) { return el('li', { text: s }); })));
    }
  }

  /* The findings of the run's diagnosis, worst first: one card each
   * (severity, rule, evidence, advice), or "No findings". */
  function diagnosis(d) {
    var sec = document.getElementById('diagnosis');
    var g = d.diagnosis;
    if (!g || d.run.mode === 'hit') {
      sec.hidden = true;
      return;
    }
    var server = g.server ? 'server metrics: ' + g.server : 'server metrics: none (client-side rules only)';
    if (d.verdict.status === 'running') {
      sec.appendChild(el('p', { 'class': 'note', text: 'The diagnosis is made when the run ends.' }));
      return;
    }
    if (!g.findings.length) {
      sec.appendChild(el('p', { 'class': 'diag-none', text: 'No findings (' + g.rules_checked + ' rules checked; ' + server + ').' }));
      return;
    }
    sec.appendChild(el('p', { 'class': 'note', text: g.findings.length + ' finding' + (g.findings.length === 1 ? '' : 's') + ' (' + g.rules_checked + ' rules checked; ' + server + ').' }));
    g.findings.forEach(function (f) {
      sec.appendChild(el('div', { 'class': 'finding ' + f.severity }, [
        el('div', { 'class': 'finding-head' }, [
          el('span', { 'class': 'severity', text: f.severity }),
          el('code', { 'class': 'rule', text: f.rule })
        ]),
        el('p', { 'class': 'evidence', text: f.evidence }),
        el('p', { 'class': 'advice', text: 'Advice: ' + f.advice })
      ]));
    });
  }

  /* `run --baseline`: every compared figure with its change, p-value and
   * verdict (regressions marked), as `loadgen compare` prints it. */
  function comparison(d) {
    var c = d.comparison;
    if (!c) return;
    var sec = document.getElementById('comparison');
    sec.hidden = false;
    var n = c.rows.filter(function (r) { return r.verdict === 'regression'; }).length;
    sec.appendChild(el('p', { 'class': n ? 'cmp-regressed' : 'diag-none',
      text: n ? n + ' regression' + (n === 1 ? '' : 's') + ' against ' + c.base.label + ' (exit 98 unless the guard or a threshold failed)'
        : 'No regression against ' + c.base.label + '.' }));
    var bands = c.tolerances;
    var band = function (v, pct) { return v === null || v === undefined ? 'off' : (pct ? (v * 100).toFixed(0) + '%' : String(v)); };
    sec.appendChild(el('p', { 'class': 'note', text: 'Baseline started ' + c.base.started_at + '. A change counts when beyond its band (p50 ' +
      band(bands.p50, true) + ', p95 ' + band(bands.p95, true) + ', p99 ' + band(bands.p99, true) + ', error rate ' +
      band(bands.error_rate_points, false) + ' points, latency floor ' + band(bands.floor_ms, false) + ' ms) and its one-sided p-value is below ' + c.alpha + '.' }));
    if (c.warnings.length) {
      sec.appendChild(el('ul', { 'class': 'skipped' }, c.warnings.map(function (w) { return el('li', { text: w }); })));
    }
    var val = function (v, unit) {
      if (!isNum(v)) return DASH;
      if (unit === 'ms') return fmtMs(v) + ' ms';
      if (unit === '%') return v.toFixed(2) + '%';
      return fmtRate(v) + '/s';
    };
    var verdictText = { regression: '\u2717 regression', improvement: 'improvement', within_noise: 'within noise', 'n/a': 'n/a' };
    sec.appendChild(table(['Phase', 'Endpoint', 'Metric', 'Base', 'New', 'Change', 'p', 'Verdict'], c.rows.map(function (r) {
      var change = DASH;
      if (isNum(r.change)) {
        var sign = r.change > 0 ? '+' : '';
        change = sign + (r.unit === '%' ? r.change.toFixed(2) + ' pt' : r.unit === 'ms' ? fmtMs(r.change) + ' ms' : fmtRate(r.change) + '/s');
        if (isNum(r.relative_change) && r.unit !== '%') change += ' (' + sign + (r.relative_change * 100).toFixed(1) + '%)';
      }
      var p = isNum(r.p_value) ? (r.p_value < 0.0001 ? '<0.0001' : r.p_value.toFixed(4)) : DASH;
      var cls = r.verdict === 'regression' ? 'fail' : r.verdict === 'improvement' ? 'pass' : '';
      return row(r.verdict === 'regression' ? 'fail' : '', [r.phase, r.endpoint, r.metric, val(r.base, r.unit), val(r.new, r.unit),
        change, p, { text: verdictText[r.verdict] || r.verdict, cls: cls }]);
    }), 'comparison'));
  }

  function requests(d) {
    var sec = document.getElementById('requests');
    if (!d.requests.length || d.totals.requests === 0) {
      sec.appendChild(el('p', { 'class': 'note', text: 'No request was recorded.' }));
      return;
    }
    var headers = ['Name', 'Requests', 'Failures', 'Median (ms)', 'Average (ms)', 'Min (ms)', 'Max (ms)',
      'Average size (bytes)', 'Requests/s', 'Failures/s'].concat(d.percentiles);
    sec.appendChild(table(headers, d.requests.map(function (r) {
      var name = r.kind === 'endpoint' ? r.endpoint : r.kind === 'phase' ? r.phase : 'Aggregated';
      var cells = [name, fmtInt(r.requests), { text: fmtInt(r.failures), cls: r.failures > 0 ? 'bad' : '' },
        fmtMs(r.median_ms), fmtMs(r.average_ms), fmtMs(r.min_ms), fmtMs(r.max_ms),
        isNum(r.average_size) ? group(r.average_size) : DASH, fmtRate(r.requests_per_s), fmtRate(r.failures_per_s)];
      return row(r.kind, cells.concat(r.percentiles_ms.map(fmtMs)));
    }), 'requests'));
  }

  function streaming(d) {
    if (!d.streaming.length) return;
    var sec = document.getElementById('streaming');
    sec.hidden = false;
    var headers = ['Phase', 'Streams', 'Tokens', 'Failed'];
    var metrics = d.streaming[0].metrics;
    metrics.forEach(function (m) {
      var label = m.unit === 'ms' ? m.metric.toUpperCase() : m.unit;
      ['p50', 'p95', 'p99'].forEach(function (p) { headers.push(label + ' ' + p); });
    });
    sec.appendChild(el('p', { 'class': 'note', text: 'Per streamed chat turn: TTFB, TTFT, ITL, TPOT and E2E in ms; tokens/s per stream.' }));
    sec.appendChild(table(headers, d.streaming.map(function (s) {
      var cells = [s.phase, fmtInt(s.streams), fmtInt(s.tokens), { text: fmtInt(s.failed), cls: s.failed > 0 ? 'bad' : '' }];
      s.metrics.forEach(function (m) {
        [m.p50, m.p95, m.p99].forEach(function (v) { cells.push(m.unit === 'ms' ? fmtMs(v) : fmtRate(v)); });
      });
      return row('', cells);
    }), 'streaming'));
  }

  function checks(d) {
    var sec = document.getElementById('checks');
    if (!d.checks.length) {
      sec.appendChild(el('p', { 'class': 'note', text: 'No checks were recorded.' }));
      return;
    }
    var rows = [], phases = [];
    d.checks.forEach(function (c) { if (phases.indexOf(c.phase) < 0) phases.push(c.phase); });
    phases.forEach(function (p) {
      var mine = d.checks.filter(function (c) { return c.phase === p; });
      var pass = 0, fail = 0;
      mine.forEach(function (c) { pass += c.passes; fail += c.fails; });
      rows.push(row('phase', [p, fmtInt(pass), { text: fmtInt(fail), cls: fail > 0 ? 'bad' : '' }, fmtPct(pass, pass + fail)]));
      mine.forEach(function (c) {
        rows.push(row('endpoint', [c.name, fmtInt(c.passes), { text: fmtInt(c.fails), cls: c.fails > 0 ? 'bad' : '' }, fmtPct(c.passes, c.passes + c.fails)]));
      });
    });
    sec.appendChild(table(['Phase / check', 'Passed', 'Failed', 'Pass rate'], rows, 'checks'));
  }

  function errors(d) {
    if (!d.errors.length) return;
    var sec = document.getElementById('errors');
    sec.hidden = false;
    sec.appendChild(table(['Kind', 'Requests'], d.errors.map(function (e) { return row('', [e[0], fmtInt(e[1])]); }), 'errors'));
  }

  /* ---- charts ---- */

  var plots = [];

  function hexRgb(hex) {
    var n = parseInt(hex.slice(1), 16);
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  }

  // Whether the canvas holds pixels of one of the series' colours: the
  // lines were drawn, not only the axes and the grid.
  function paintedLines(u, colours) {
    var c = u.ctx.canvas, data;
    try {
      data = u.ctx.getImageData(0, 0, c.width, c.height).data;
    } catch (e) {
      noteError('cannot read a chart canvas: ' + e.message);
      return false;
    }
    var rgbs = colours.map(hexRgb);
    for (var i = 0; i < data.length; i += 4) {
      if (data[i + 3] < 200) continue;
      for (var j = 0; j < rgbs.length; j++) {
        if (Math.abs(data[i] - rgbs[j][0]) < 40 && Math.abs(data[i + 1] - rgbs[j][1]) < 40 &&
            Math.abs(data[i + 2] - rgbs[j][2]) < 40) return true;
      }
    }
    return false;
  }

  function chartWidth(fig) {
    return Math.max(240, fig.clientWidth - 18);
  }

  /** lines: [{label, values, colour, dash?}]; xRange: [min, max] to keep
   * (the client charts' range, for the server charts), else the data's. */
  function addChart(grid, t, span, title, unit, lines, xRange) {
    var fig = el('figure', { 'class': 'chart', 'data-title': title });
    var plot = el('div', { 'class': 'plot' });
    fig.appendChild(plot);
    grid.appendChild(fig);
    var checked = false;
    var fmt = unit === 'ms' ? fmtMs : unit === 'VUs' ? fmtInt : fmtRate;
    var opts = {
      title: title,
      width: chartWidth(fig),
      height: 220,
      cursor: { sync: { key: 'run' } },
      scales: { x: xRange ? { time: false, range: function () { return xRange; } } : { time: false }, y: { range: function (u, min, max) { return [0, isNum(max) && max > 0 ? max * 1.08 : 1]; } } },
      axes: [
        { values: function (u, ticks) { return ticks.map(function (v) { return fmtElapsed(v, span); }); } },
        { label: unit, size: 60, values: function (u, ticks) { return ticks.map(fmtTick); } }
      ],
      series: [{ label: 'time', value: function (u, v) { return fmtElapsed(v, span); } }].concat(lines.map(function (l) {
        return {
          label: l.label, stroke: l.colour, width: 2, dash: l.dash, spanGaps: false,
          value: function (u, v) { return isNum(v) ? fmt(v) + (unit === 'VUs' ? '' : ' ' + unit) : DASH; }
        };
      })),
      hooks: {
        draw: [function (u) {
          if (checked) return;
          checked = true;
          if (paintedLines(u, lines.map(function (l) { return l.colour; }))) {
            fig.setAttribute('data-painted', '1');
            root.setAttribute('data-rendered', String(document.querySelectorAll('figure[data-painted]').length));
          }
        }]
      }
    };
    var u = new uPlot(opts, [t].concat(lines.map(function (l) { return l.values; })), plot);
    plots.push({ u: u, fig: fig });
  }

  function charts(d) {
    var sec = document.getElementById('charts');
    var grid = sec.querySelector('.chart-grid');
    var c = d.charts;
    if (!c || !c.t.length) {
      grid.remove();
      sec.appendChild(el('p', { 'class': 'note', text: 'No time series in this summary: it holds whole-run figures only (the tables below).' }));
      return 0;
    }
    if (typeof uPlot !== 'function') throw new Error('the chart library did not load');
    var t = c.t, span = t[t.length - 1] - t[0];
    // No prototype: a phase named __proto__ or constructor is just a key.
    var colour = Object.create(null);
    c.phases.forEach(function (p, i) { colour[p.phase] = PALETTE[i % (PALETTE.length - 1)]; });
    var specs = [];
    specs.push(['Virtual users', 'VUs', [{ label: 'VUs', values: c.vus, colour: '#444c56' }]]);
    var req = c.phases.map(function (p) { return { label: p.phase, values: p.requests_per_s, colour: colour[p.phase] }; });
    specs.push(['Requests/s by phase', 'req/s', req]);
    var fails = c.phases.map(function (p) { return { label: p.phase, values: p.failures_per_s, colour: colour[p.phase], dash: [6, 3] }; });
    specs.push(['Failures/s by phase', 'fail/s', fails]);
    c.phases.forEach(function (p) {
      specs.push(['Latency: ' + p.phase, 'ms', [
        { label: 'p50', values: p.p50_ms, colour: '#2ca02c' },
        { label: 'p95', values: p.p95_ms, colour: '#ff7f0e' },
        { label: 'p99', values: p.p99_ms, colour: FAIL }
      ]]);
    });
    c.streams.forEach(function (s) {
      specs.push(['TTFT and ITL: ' + s.phase, 'ms', [
        { label: 'TTFT p50', values: s.ttft_p50_ms, colour: '#1f77b4' },
        { label: 'TTFT p95', values: s.ttft_p95_ms, colour: '#1f77b4', dash: [6, 3] },
        { label: 'ITL p50', values: s.itl_p50_ms, colour: '#9467bd' },
        { label: 'ITL p95', values: s.itl_p95_ms, colour: '#9467bd', dash: [6, 3] }
      ]]);
      specs.push(['Tokens/s per stream (median): ' + s.phase, 'tokens/s', [
        { label: 'tokens/s p50', values: s.tokens_per_s_p50, colour: '#17becf' }
      ]]);
    });
    // One x range for every chart, client and server: the last scrape is
    // taken once the load stopped, a little after the last point.
    var range = [t[0], t[t.length - 1]];
    (c.server || []).forEach(function (s) {
      if (s.t.length && s.t[s.t.length - 1] > range[1]) range[1] = s.t[s.t.length - 1];
    });
    var server = serverCharts(sec, c.server || [], range);
    root.setAttribute('data-charts', String(specs.length + server.length));
    specs.forEach(function (s) { addChart(grid, t, span, s[0], s[1], s[2], range); });
    server.forEach(function (s) { addChart(s.grid, s.t, span, s.title, s.unit, s.lines, s.range); });
    return specs.length + server.length;
  }

  /* The server's side (loadgen/src/scrape): per scraped endpoint, a status
   * line (scrapes ok and failed, the last error) and its series charted
   * under the client charts on their x range. [title, unit, lines, shown
   * only when non-zero]; a line is [label, series name, colour, dash?]. */
  var SERVER_CHARTS = [
    ['DB pool connections', 'conns', [['checked out', 'db_pool_checked_out', '#1f77b4'], ['size', 'db_pool_size', '#2ca02c'], ['max', 'db_pool_max', FAIL, [6, 3]]]],
    ['DB pool usage ratio', 'ratio', [['checked out / max', 'db_pool_usage_ratio', '#9467bd']]],
    ['HTTP requests in flight (server)', 'requests', [['in flight', 'http_in_flight', '#444c56']]],
    ['Server time per chat turn and provider call (mean)', 'ms', [['chat turn', 'chat_mean_ms', '#1f77b4'], ['provider call', 'provider_mean_ms', '#ff7f0e']]],
    ['Provider calls/s', 'calls/s', [['calls', 'provider_calls_per_s', '#2ca02c']]],
    ['Provider 429s, retries and errors', '/s', [['429/s', 'provider_429_per_s', '#ff7f0e'], ['retries/s', 'provider_retries_per_s', '#9467bd'], ['errors/s', 'provider_errors_per_s', FAIL, [6, 3]]]],
    ['Circuit breaker (0 closed, 1 half-open, 2 open)', 'state', [['worst provider', 'breaker_state', FAIL]], true],
    ['Password hashing queue', 'hashes', [['queue depth', 'hash_queue_depth', '#ff7f0e'], ['in flight', 'hash_in_flight', '#1f77b4']]],
    ['Password hashing time (mean, queueing included)', 'ms', [['hash or verify', 'hash_mean_ms', '#8c564b']]],
    ['Process CPU', 'cores', [['CPU used', 'cpu_cores', FAIL], ['host CPUs', 'host_cpus', '#444c56', [6, 3]]]],
    ['Process resident memory', 'MiB', [['RSS', 'rss_mib', '#17becf']]],
    ['Process open file descriptors', 'fds', [['open fds', 'open_fds', '#bcbd22']]],
    ['Backend rate limiter 429s', '/s', [['429/s', 'rate_limited_per_s', FAIL]], true],
    ['Model batch: running and waiting', 'requests', [['running', 'model_running', '#1f77b4'], ['waiting', 'model_waiting', '#ff7f0e']]],
    ['Mock LLM: requests, 429s and errors', '/s', [['requests/s', 'upstream_requests_per_s', '#2ca02c'], ['429/s', 'upstream_429_per_s', '#ff7f0e'], ['errors/s', 'upstream_errors_per_s', FAIL, [6, 3]]]],
    ['Mock LLM: completion tokens/s', 'tokens/s', [['tokens/s', 'upstream_tokens_per_s', '#17becf']]],
    ['History sent with each chat turn (mean)', 'messages', [['mean', 'history_messages_mean', '#1f77b4'], ['CHAT_HISTORY_MAX_MESSAGES', 'history_max_messages', '#444c56', [6, 3]]]]
  ];

  function serverCharts(sec, targets, range) {
    var out = [];
    targets.forEach(function (s) {
      var ok = s.scrapes - s.failures;
      var status = 'Scraped ' + s.url + ': ' + fmtInt(ok) + ' ok, ' + fmtInt(s.failures) + ' failed' +
        (s.last_error ? ' (last error: ' + s.last_error + ')' : '');
      sec.appendChild(el('h3', { 'class': 'server', text: 'Server: ' + s.url }));
      sec.appendChild(el('p', { 'class': 'note scrape-status' + (s.failures > 0 ? ' bad' : ''), text: status }));
      var grid = el('div', { 'class': 'chart-grid server' });
      sec.appendChild(grid);
      // No prototype lookups: series names come from the data.
      var series = Object.create(null);
      Object.keys(s.series || {}).forEach(function (k) { series[k] = s.series[k]; });
      SERVER_CHARTS.forEach(function (spec) {
        var lines = spec[2].filter(function (l) {
          var v = series[l[1]];
          return v && v.some(function (x) { return isNum(x) && (!spec[3] || x !== 0); });
        }).map(function (l) { return { label: l[0], values: series[l[1]], colour: l[2], dash: l[3] }; });
        if (!lines.length || !s.t.length) return;
        out.push({ grid: grid, t: s.t, title: spec[0], unit: spec[1], lines: lines, range: range });
      });
    });
    return out;
  }

  function resizeAll(maxWidth) {
    plots.forEach(function (p) {
      var w = chartWidth(p.fig);
      if (maxWidth) w = Math.min(w, maxWidth);
      p.u.setSize({ width: w, height: 220 });
    });
  }

  var resizeTimer = null;
  window.addEventListener('resize', function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () { resizeAll(0); }, 150);
  });
  // Half a landscape A4 page: the print layout is computed after this event.
  window.addEventListener('beforeprint', function () { resizeAll(500); });
  window.addEventListener('afterprint', function () { resizeAll(0); });

  function step(name, f, d) {
    try {
      f(d);
    } catch (e) {
      noteError(name + ': ' + (e && e.message ? e.message : e));
    }
  }

  // The sections as the template has them, so that a live page can draw
  // each update from scratch.
  var pristine = null;

  function reset() {
    plots.forEach(function (p) { p.u.destroy(); });
    plots = [];
    if (!pristine) {
      pristine = Array.prototype.map.call(document.querySelectorAll('main > section'), function (s) { return s.cloneNode(true); });
      return;
    }
    pristine.forEach(function (s) {
      var now = document.getElementById(s.id);
      if (now) now.replaceWith(s.cloneNode(true));
    });
  }

  /* Draws the page for report data `d`: the embedded data, or (on a live
   * page, from live.js) each update. */
  function draw(d) {
    reset();
    if (d.error) noteError('the report data could not be written: ' + d.error);
    step('verdict', verdict, d);
    step('run', facts, d);
    step('diagnosis', diagnosis, d);
    step('comparison', comparison, d);
    step('thresholds', thresholds, d);
    step('requests', requests, d);
    step('streaming', streaming, d);
    step('checks', checks, d);
    step('errors', errors, d);
    step('charts', charts, d);
  }

  function main() {
    var d;
    var live = root.hasAttribute('data-live');
    try {
      d = JSON.parse(document.getElementById('report-data').textContent);
    } catch (e) {
      noteError('the embedded report data is not JSON: ' + e.message);
      root.setAttribute('data-status', 'failed');
      return;
    }
    // A live page served before the run started has no data yet.
    if (d.pending) {
      reset();
      document.getElementById('verdict').textContent = 'Waiting for the run to start\u2026';
    } else {
      draw(d);
    }
    root.setAttribute('data-status', live ? 'live' : 'done');
  }

  // For the live page's script (live.js): draw an update, report an error.
  window.loadgenReport = { draw: draw, error: noteError };

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', main);
  else main();
}());
