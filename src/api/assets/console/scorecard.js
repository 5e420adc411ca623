/* realtime-strategies console: the scorecard panel — live set and shadows side by side, the cumulative net curve
 * with configuration changes marked, shadow create / promote / delete, and which config version each replica runs.
 * Uses the core console's API client and dialogs (window.RSConsoleCore); no API data is inserted as HTML. */
(function () {
  'use strict';
  const core = window.RSConsoleCore;
  if (!core) return;
  const $ = (sel) => document.querySelector(sel);
  const { el, num, signed, signClass } = core;
  const REFRESH_MS = 10000;
  const COLORS = ['#1b1f24', '#1f5fbf', '#b45309', '#7c3aed', '#137a3a', '#b3261e', '#0e7490', '#a21caf', '#4d7c0f'];
  const s = { strategy: null, chart: null, timer: null, seq: 0, changes: [] };

  function headline(perf) {
    const rows = (perf && perf.horizons) || [];
    return rows.find((r) => r.horizon_s === perf.curve_horizon_s) || rows[0] || null;
  }

  function pct(v) { return typeof v === 'number' ? (v * 100).toFixed(1) + '%' : '—'; }

  function lastNet(perf) {
    const c = (perf && perf.cumulative_net_bps) || [];
    return c.length ? c[c.length - 1].net_bps : null;
  }

  function setRow(name, perf, shadow) {
    const h = headline(perf);
    const actions = shadow
      ? el('span', { class: 'buttons' },
        el('button', { type: 'button', 'data-promote': name, onclick: () => promote(shadow) }, 'Promote'),
        el('button', { type: 'button', class: 'danger', 'data-delete-shadow': name, onclick: () => remove(name) }, 'Delete'))
      : el('span', { class: 'muted' }, 'published');
    const title = shadow ? JSON.stringify(shadow.parameters) + (shadow.symbols ? ' on ' + shadow.symbols.join(', ') : '') : 'the parameters in force';
    return el('tr', { class: shadow ? 'shadow' : 'live', 'data-set': name },
      el('th', { scope: 'row', title }, name),
      el('td', { class: 'num' }, h ? String(h.n) : '0'),
      el('td', { class: 'num' }, h ? pct(h.hit_rate) : '—'),
      el('td', { class: 'num ' + signClass(h && h.mean_net_bps) }, h ? signed(h.mean_net_bps, 2) : '—'),
      el('td', { class: 'num' }, h ? num(h.signals_per_hour, 1) : '—'),
      el('td', { class: 'num ' + signClass(lastNet(perf)) }, signed(lastNet(perf), 1)),
      el('td', {}, actions));
  }

  function horizonRows(perf) {
    return ((perf && perf.horizons) || []).map((h) => el('tr', { 'data-horizon': h.horizon_s },
      el('th', { scope: 'row' }, h.horizon_s + ' s'),
      el('td', { class: 'num' }, String(h.n) + (h.insufficient_sample ? ' (few)' : '')),
      el('td', { class: 'num' }, pct(h.hit_rate)),
      el('td', { class: 'num ' + signClass(h.mean_net_bps) }, signed(h.mean_net_bps, 2)),
      el('td', { class: 'num' }, h.ci95_net_bps ? signed(h.ci95_net_bps[0], 1) + ' … ' + signed(h.ci95_net_bps[1], 1) : '—'),
      el('td', { class: 'num' }, num(h.ic, 2))));
  }

  function calibrationRows(perf) {
    const rows = (perf && perf.calibration) || [];
    if (!rows.length) return [el('tr', {}, el('td', { colspan: 4, class: 'muted' }, 'No scored signals in the window.'))];
    return rows.map((b) => el('tr', { 'data-bucket': b.confidence[0] },
      el('th', { scope: 'row' }, num(b.confidence[0], 1) + '–' + num(b.confidence[1], 1)),
      el('td', { class: 'num' }, String(b.n)),
      el('td', { class: 'num' }, pct(b.hit_rate)),
      el('td', { class: 'num ' + signClass(b.mean_net_bps) }, signed(b.mean_net_bps, 2))));
  }

  /** Aligns every set's curve on one time axis (uPlot wants shared x values); gaps are spanned. */
  function curveData(sets) {
    const times = new Set();
    for (const set of sets) for (const p of set.curve) times.add(p.t);
    const xs = [...times].sort((a, b) => a - b);
    const series = sets.map((set) => {
      const at = new Map(set.curve.map((p) => [p.t, p.net_bps]));
      return xs.map((t) => (at.has(t) ? at.get(t) : null));
    });
    return [xs.map((t) => t / 1000), ...series];
  }

  function chartWidth() { return Math.max(240, $('#score-chart').clientWidth || 600); }

  function drawChart(sets) {
    if (!window.uPlot) return;
    if (s.chart) { s.chart.destroy(); s.chart = null; }
    const data = curveData(sets);
    const changes = s.changes;
    s.chart = new window.uPlot({
      width: chartWidth(),
      height: 200,
      legend: { show: true },
      tzDate: (ts) => window.uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'),
      scales: { x: { time: true } },
      axes: [{}, { label: 'net bps', size: 60 }],
      series: [{}, ...sets.map((set, i) => ({ label: set.name, stroke: COLORS[i % COLORS.length], width: set.name === 'live' ? 2 : 1.25, spanGaps: true, dash: set.name === 'live' ? undefined : [6, 3] }))],
      hooks: {
        draw: [(u) => {
          const ctx = u.ctx;
          ctx.save();
          ctx.strokeStyle = '#b45309';
          ctx.setLineDash([4, 4]);
          for (const t of changes) {
            const x = u.valToPos(t / 1000, 'x', true);
            if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
            ctx.beginPath();
            ctx.moveTo(x, u.bbox.top);
            ctx.lineTo(x, u.bbox.top + u.bbox.height);
            ctx.stroke();
          }
          ctx.restore();
        }],
      },
    }, data, $('#score-chart'));
  }

  async function loadChanges(id) {
    try {
      const r = await core.api('GET', '/api/v1/strategies/' + core.enc(id) + '/audit?limit=100');
      s.changes = (r.data || []).map((rec) => Date.parse(rec.changed_at)).filter((t) => !Number.isNaN(t));
    } catch (e) { s.changes = []; }
  }

  async function loadReplicas() {
    try {
      const r = await core.api('GET', '/api/v1/replicas');
      const d = r.data || {};
      const n = (d.replicas || []).length;
      $('#replica-status').textContent = n <= 1
        ? 'One replica reports (this one).'
        : n + ' replicas report; ' + (d.all_replicas_same_version ? 'all apply the same config versions.' : 'they apply DIFFERENT config versions: ' +
          d.replicas.map((p) => p.hostname + ' ' + JSON.stringify(p.versions[s.strategy] || {})).join('; '));
      $('#replica-status').setAttribute('data-replicas', String(n));
      $('#replica-status').setAttribute('data-same', String(!!d.all_replicas_same_version));
    } catch (e) {
      $('#replica-status').textContent = 'Replica versions unknown: ' + e.message;
    }
  }

  async function load() {
    const id = s.strategy;
    if (!id) return;
    const seq = ++s.seq;
    const win = $('#score-window').value;
    let r;
    try {
      r = await core.api('GET', '/api/v1/strategies/' + core.enc(id) + '/shadows?window=' + core.enc(win));
    } catch (e) {
      if (seq === s.seq) $('#score-status').textContent = 'Scorecard unavailable: ' + e.message;
      return;
    }
    if (seq !== s.seq || id !== s.strategy) return;
    await loadChanges(id);
    if (seq !== s.seq) return;
    const d = r.data || {};
    const shadows = d.shadows || [];
    $('#score-h').textContent = 'Scorecard — ' + id;
    const lh = headline(d.live);
    $('#score-status').textContent = 'Window ' + win + ', horizon ' + ((d.live && d.live.curve_horizon_s) || 60) + ' s, fee ' +
      num(d.live && d.live.settings && d.live.settings.fee_bps, 1) + ' bps per side. Live set: ' + (lh ? lh.n : 0) + ' scored; ' +
      shadows.length + ' of ' + (d.max_shadows || 8) + ' shadows.';
    $('#score-table tbody').replaceChildren(setRow('live', d.live, null), ...shadows.map((sh) => setRow(sh.name, sh.performance, sh)));
    $('#horizon-table tbody').replaceChildren(...horizonRows(d.live));
    $('#calibration-table tbody').replaceChildren(...calibrationRows(d.live));
    drawChart([{ name: 'live', curve: (d.live && d.live.cumulative_net_bps) || [] },
      ...shadows.map((sh) => ({ name: sh.name, curve: (sh.performance && sh.performance.cumulative_net_bps) || [] }))]);
    s.shadows = shadows;
    loadReplicas();
  }

  function status(text, kind) {
    const p = $('#shadow-status');
    p.textContent = text;
    p.className = 'status' + (kind ? ' ' + kind : '');
  }

  async function create(ev) {
    ev.preventDefault();
    const id = s.strategy;
    if (!id || !core.requireAuthor()) return;
    const name = $('#shadow-name').value.trim();
    let parameters;
    try {
      parameters = JSON.parse($('#shadow-params').value || '{}');
      if (!parameters || typeof parameters !== 'object' || Array.isArray(parameters)) throw new Error('an object');
    } catch (e) {
      status('Parameters must be a JSON object such as {"buy_threshold": 1.4}.', 'error');
      $('#shadow-params').focus();
      return;
    }
    const symbols = $('#shadow-symbols').value.split(',').map((x) => x.trim()).filter(Boolean);
    const body = { name, parameters, changed_by: core.author() };
    if (symbols.length) body.symbols = symbols;
    status('Creating…');
    try {
      await core.api('POST', '/api/v1/strategies/' + core.enc(id) + '/shadows', body);
      status('Shadow ' + name + ' runs from now on; its scorecard fills as its signals are scored.', 'ok');
      $('#shadow-name').value = '';
      $('#shadow-params').value = '';
      $('#shadow-symbols').value = '';
      load();
    } catch (e) {
      const fields = (e.fieldErrors || []).map((f) => f.field + ': ' + f.message).join('; ');
      status('Not created. ' + e.message + (fields ? ' (' + fields + ')' : ''), 'error');
    }
  }

  async function promote(shadow) {
    const id = s.strategy;
    if (!id || !core.requireAuthor()) return;
    const guarded = $('#promote-guard').checked;
    const summary = (shadow.comparison && shadow.comparison.summary) || '';
    const text = 'Write ' + JSON.stringify(shadow.parameters) + ' into the GLOBAL configuration of ' + id +
      ' (a new audited version' + (guarded ? ', rolled back automatically if it breaks the safeguard' : '') + ')? ' + summary;
    if (!(await core.confirmAction(text, 'Promote'))) return;
    const body = { changed_by: core.author(), window: $('#score-window').value };
    const reason = core.reason();
    if (reason) body.reason = reason;
    if (guarded) body.safeguard = { max_signals_per_hour: 120, min_hit_rate: 0.45, horizon: '60s', after_signals: 50 };
    status('Promoting…');
    try {
      const r = await core.api('POST', '/api/v1/strategies/' + core.enc(id) + '/shadows/' + core.enc(shadow.name) + '/promote', body);
      const acks = (r.metadata && r.metadata.replicas && r.metadata.replicas.acknowledged_by) || [];
      status('Promoted ' + shadow.name + ' as version ' + ((r.metadata && r.metadata.version) || '?') + '; ' + acks.length +
        ' replica' + (acks.length === 1 ? '' : 's') + ' acknowledged.', 'ok');
      core.afterConfigChange();
      load();
    } catch (e) {
      status('Not promoted. ' + e.message, 'error');
    }
  }

  async function remove(name) {
    const id = s.strategy;
    if (!id) return;
    if (!(await core.confirmAction('Stop and delete shadow ' + name + ' of ' + id + '? Its scorecard is dropped.', 'Delete'))) return;
    try {
      await core.api('DELETE', '/api/v1/strategies/' + core.enc(id) + '/shadows/' + core.enc(name));
      status('Shadow ' + name + ' deleted.', 'ok');
      load();
    } catch (e) {
      status('Not deleted. ' + e.message, 'error');
    }
  }

  document.addEventListener('rs:strategy', (ev) => {
    s.strategy = ev.detail;
    s.seq++;
    $('#score-panel').hidden = false;
    $('#score-table tbody').replaceChildren();
    $('#horizon-table tbody').replaceChildren();
    status('');
    load();
    clearInterval(s.timer);
    s.timer = setInterval(() => { if (!document.hidden) load(); }, REFRESH_MS);
  });
  $('#score-window').addEventListener('change', load);
  $('#shadow-form').addEventListener('submit', create);
  if (window.ResizeObserver) {
    new ResizeObserver(() => { if (s.chart) s.chart.setSize({ width: chartWidth(), height: 200 }); }).observe($('#score-chart'));
  }
  window.RSScorecard = { reload: load };
})();
