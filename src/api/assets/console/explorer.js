/* realtime-strategies console: the signal explorer — filter by strategy, symbol and side, pause and resume, a
 * detail row per signal, the arrival rate, a count of rows not shown, buy/sell flips marked, and the signals as
 * markers on a price chart of one symbol. Uses the core console's helpers (window.RSConsoleCore); no API data is
 * inserted as HTML. */
(function () {
  'use strict';
  const core = window.RSConsoleCore;
  if (!core) return;
  const $ = (sel) => document.querySelector(sel);
  const { el, num } = core;
  const MAX_ROWS = 200;
  const MAX_PAUSED = 2000;
  const FLIP_MS = 1000;
  const PRICE_POINTS = 900;
  const x = {
    paused: false, buffered: [], arrivals: [], filtered: 0, trimmed: 0, dropped: 0,
    last: new Map(), prices: new Map(), marks: [], chart: null, symbol: null, open: null,
  };

  function parseMs(ts) {
    if (typeof ts === 'number') return ts > 1e12 ? ts : ts * 1000;
    const iso = typeof ts === 'string' && !/[zZ]|[+-]\d\d:?\d\d$/.test(ts) ? ts + 'Z' : ts;
    const t = Date.parse(iso);
    return Number.isNaN(t) ? null : t;
  }
  function clock(ms) { return ms === null ? '—' : new Date(ms).toISOString().slice(11, 19); }

  function filters() {
    return {
      strategy: $('#filter-strategy').value,
      symbol: $('#filter-symbol').value.trim().toUpperCase(),
      side: $('#filter-side').value,
      shadows: $('#filter-shadows').checked,
    };
  }

  function passes(sig, f) {
    if (f.strategy && sig.strategy !== f.strategy) return false;
    if (f.symbol && sig.symbol !== f.symbol) return false;
    if (f.side && sig.action !== f.side) return false;
    if (sig.shadow && !f.shadows) return false;
    return true;
  }

  /** The fields the explorer shows, from a signal as the host publishes it. */
  function normalise(raw) {
    const action = String(raw.action || raw.signal_type || '').toLowerCase();
    return {
      raw,
      id: raw.signal_id || raw.id || '',
      t: parseMs(raw.timestamp),
      strategy: raw.strategy_id || raw.strategy || (raw.metadata && raw.metadata.strategy_id) || '—',
      symbol: raw.symbol || '—',
      action,
      confidence: typeof raw.confidence === 'number' ? raw.confidence : null,
      price: raw.price,
      shadow: typeof raw.shadow === 'string' ? raw.shadow : null,
      flip: false,
    };
  }

  function markFlip(sig) {
    const key = sig.strategy + '|' + sig.symbol + '|' + (sig.shadow || '');
    const prev = x.last.get(key);
    if (prev && prev.action !== sig.action && sig.t !== null && prev.t !== null && Math.abs(sig.t - prev.t) <= FLIP_MS) sig.flip = true;
    x.last.set(key, { action: sig.action, t: sig.t });
    if (x.last.size > 5000) x.last.clear();
  }

  function detail(sig) {
    const r = sig.raw;
    const rows = [];
    const add = (k, v) => { if (v !== undefined && v !== null && v !== '') rows.push(el('div', {}, el('dt', {}, k), el('dd', {}, typeof v === 'object' ? JSON.stringify(v) : String(v)))); };
    add('signal id', sig.id);
    add('event time', r.timestamp);
    add('stop loss', r.stop_loss);
    add('take profit', r.take_profit);
    add('quantity', r.quantity);
    add('config revision', r.strategy_revision_id);
    add('shadow', sig.shadow ? sig.shadow + ' (not published)' : null);
    for (const [k, v] of Object.entries(r.indicators || {})) add('indicator ' + k, typeof v === 'number' ? num(v, 6) : v);
    if (r.metadata && r.metadata.reasoning) add('reasoning', r.metadata.reasoning);
    return el('dl', { class: 'signal-detail' }, ...rows);
  }

  function row(sig) {
    const label = sig.shadow ? sig.strategy + ' (shadow ' + sig.shadow + ', not published)' : sig.strategy;
    const more = el('button', { type: 'button', class: 'link', 'aria-expanded': 'false', title: String(sig.raw.timestamp || ''),
      'aria-label': 'Details of the ' + (sig.action || '') + ' signal of ' + label + ' on ' + sig.symbol + ' at ' + clock(sig.t) }, clock(sig.t));
    const tr = el('tr', {
      class: 'fresh signal' + (sig.shadow ? ' shadow' : '') + (sig.flip ? ' flip' : ''),
      'data-strategy': sig.strategy, 'data-symbol': sig.symbol, 'data-shadow': sig.shadow || '', 'data-side': sig.action,
    },
    el('td', {}, more),
    el('td', {}, label),
    el('td', {}, sig.symbol),
    el('td', { class: 'action-' + sig.action }, (sig.action || '—').toUpperCase(), sig.flip ? el('span', { class: 'flip-mark', title: 'opposite side within 1 s' }, ' ⇄ flip') : null),
    el('td', { class: 'num' }, sig.confidence === null ? '—' : (sig.confidence * 100).toFixed(1) + '%'),
    el('td', { class: 'num' }, num(sig.price, 6)));
    tr.signal = sig;
    const toggle = () => {
      const next = tr.nextElementSibling;
      if (next && next.classList.contains('detail-row')) { next.remove(); more.setAttribute('aria-expanded', 'false'); return; }
      tr.after(el('tr', { class: 'detail-row' }, el('td', { colspan: 6 }, detail(sig))));
      more.setAttribute('aria-expanded', 'true');
    };
    tr.addEventListener('click', toggle);
    return tr;
  }

  function show(sig) {
    const tbody = $('#signal-table tbody');
    const empty = tbody.querySelector('tr.empty');
    if (empty) empty.remove();
    tbody.prepend(row(sig));
    const rows = tbody.querySelectorAll('tr.signal');
    for (let i = MAX_ROWS; i < rows.length; i++) {
      const next = rows[i].nextElementSibling;
      if (next && next.classList.contains('detail-row')) next.remove();
      rows[i].remove();
      x.trimmed++;
    }
  }

  function updateCounts() {
    const now = Date.now();
    while (x.arrivals.length && now - x.arrivals[0] > 60000) x.arrivals.shift();
    const parts = [x.arrivals.length + ' signals in the last minute'];
    if (x.paused) parts.push('paused: ' + x.buffered.length + ' waiting' + (x.dropped ? ', ' + x.dropped + ' dropped while paused' : ''));
    parts.push((x.filtered + x.trimmed) + ' not shown (' + x.filtered + ' filtered out, ' + x.trimmed + ' older than the newest ' + MAX_ROWS + ')');
    $('#signal-rate').textContent = parts.join(' · ');
    $('#signal-rate').setAttribute('data-rate', String(x.arrivals.length));
    $('#signal-rate').setAttribute('data-hidden', String(x.filtered + x.trimmed));
  }

  function add(raw) {
    const sig = normalise(raw);
    x.arrivals.push(Date.now());
    markFlip(sig);
    if (sig.symbol === x.symbol && sig.t !== null && typeof sig.price === 'number') {
      x.marks.push({ t: sig.t, price: sig.price, side: sig.action, shadow: !!sig.shadow });
      if (x.marks.length > 500) x.marks.shift();
    }
    if (x.paused) {
      if (x.buffered.length >= MAX_PAUSED) { x.buffered.shift(); x.dropped++; }
      x.buffered.push(sig);
      return;
    }
    if (passes(sig, filters())) show(sig); else x.filtered++;
  }

  function refilter() {
    const f = filters();
    x.filtered = 0;
    document.querySelectorAll('#signal-table tr.detail-row').forEach((n) => n.remove());
    document.querySelectorAll('#signal-table tr.signal').forEach((tr) => {
      const ok = passes(tr.signal, f);
      tr.hidden = !ok;
      if (!ok) x.filtered++;
    });
    updateCounts();
  }

  function togglePause() {
    x.paused = !x.paused;
    const b = $('#signal-pause');
    b.textContent = x.paused ? 'Resume' : 'Pause';
    b.setAttribute('aria-pressed', x.paused ? 'true' : 'false');
    if (!x.paused) {
      const f = filters();
      for (const sig of x.buffered) { if (passes(sig, f)) show(sig); else x.filtered++; }
      x.buffered = [];
      x.dropped = 0;
    }
    updateCounts();
  }

  /* ---------------------------------------------------------- price chart */

  function onMarket(symbols) {
    const now = Date.now();
    for (const [sym, m] of Object.entries(symbols || {})) {
      if (typeof m.mid_price !== 'number') continue;
      let series = x.prices.get(sym);
      if (!series) { series = []; x.prices.set(sym, series); }
      const t = parseMs(m.timestamp) || now;
      if (!series.length || series[series.length - 1].t !== t) series.push({ t, p: m.mid_price });
      if (series.length > PRICE_POINTS) series.shift();
    }
    if (x.prices.size > 500) x.prices.clear();
    drawPrice();
  }

  function setSymbol(sym) {
    if (sym === x.symbol) return;
    x.symbol = sym;
    x.marks = [];
    $('#price-h').textContent = 'Price and signals — ' + (sym || 'no symbol');
    if (x.chart) { x.chart.destroy(); x.chart = null; }
    drawPrice();
  }

  function drawPrice() {
    if (!window.uPlot || !x.symbol) return;
    const series = x.prices.get(x.symbol) || [];
    if (!series.length) return;
    const from = series[0].t;
    const marks = x.marks.filter((m) => m.t >= from);
    const times = [...new Set([...series.map((p) => p.t), ...marks.map((m) => m.t)])].sort((a, b) => a - b);
    const price = new Map(series.map((p) => [p.t, p.p]));
    const buys = new Map(marks.filter((m) => m.side === 'buy').map((m) => [m.t, m.price]));
    const sells = new Map(marks.filter((m) => m.side === 'sell').map((m) => [m.t, m.price]));
    const data = [times.map((t) => t / 1000), times.map((t) => (price.has(t) ? price.get(t) : null)),
      times.map((t) => (buys.has(t) ? buys.get(t) : null)), times.map((t) => (sells.has(t) ? sells.get(t) : null))];
    $('#price-note').textContent = series.length + ' mid prices (1 per second from the market stream), ' + marks.length + ' signal markers (▲ buy, ▼ sell).';
    $('#price-chart').setAttribute('data-markers', String(marks.length));
    if (x.chart) { x.chart.setData(data); return; }
    const width = Math.max(240, $('#price-chart').clientWidth || 600);
    const noLine = () => null;
    x.chart = new window.uPlot({
      width, height: 180,
      tzDate: (ts) => window.uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'),
      scales: { x: { time: true } },
      axes: [{}, { label: 'mid price', size: 80 }],
      series: [{}, { label: 'mid', stroke: '#1b1f24', width: 1, spanGaps: true },
        { label: 'buy', stroke: '#137a3a', paths: noLine, points: { show: true, size: 9, fill: '#137a3a' } },
        { label: 'sell', stroke: '#b3261e', paths: noLine, points: { show: true, size: 9, fill: '#b3261e' } }],
    }, data, $('#price-chart'));
  }

  function fillStrategies(ids) {
    const sel = $('#filter-strategy');
    const current = sel.value;
    sel.replaceChildren(el('option', { value: '' }, 'all strategies'), ...ids.map((id) => el('option', { value: id }, id)));
    sel.value = ids.includes(current) ? current : '';
  }

  ['#filter-strategy', '#filter-side', '#filter-shadows'].forEach((s) => $(s).addEventListener('change', refilter));
  $('#filter-symbol').addEventListener('input', () => {
    refilter();
    const v = $('#filter-symbol').value.trim().toUpperCase();
    if (/^[A-Z0-9]{3,32}$/.test(v) && x.prices.has(v)) setSymbol(v);
  });
  $('#signal-pause').addEventListener('click', togglePause);
  if (window.ResizeObserver) {
    new ResizeObserver(() => { if (x.chart) x.chart.setSize({ width: Math.max(240, $('#price-chart').clientWidth || 600), height: 180 }); }).observe($('#price-chart'));
  }
  setInterval(updateCounts, 1000);
  window.RSExplorer = { add, onMarket, setSymbol, fillStrategies };
})();
