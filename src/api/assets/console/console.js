/* realtime-strategies web console — hand-written glue between the host's public API and two vendored libraries:
 * @json-editor/json-editor (forms generated from each strategy's JSON Schema) and uPlot (pressure chart).
 * Everything is generated from the API: a new strategy crate appears here with no change to this file. */
(function () {
  'use strict';

  const TOKEN_KEY = 'rs-console-token'; // sessionStorage: this tab only, never in a URL
  const AUTHOR_KEY = 'rs-console-author'; // localStorage: not a secret

  const $ = (sel, root) => (root || document).querySelector(sel);
  const enc = encodeURIComponent;

  /** Builds an element; children are nodes or text (never parsed as HTML). */
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  const state = {
    strategies: [],
    strategy: null, // list item
    schema: null, // metadata.json_schema as served
    config: null, // GET …/config data
    scope: 'global',
    symbol: null,
    editor: null,
    editorReady: false,
    validateTimer: null,
    validateSeq: 0,
    configSeq: 0,
    typingTimer: null,
    typingTarget: null,
    lastErrors: [],
    symbols: [],
    selectedSymbol: null,
    timeframe: '1m',
    chart: null,
    chartBusy: false,
    chartAt: 0,
    lastMarketAt: 0,
    loaded: null, // the scope the form shows: { scope, symbol }
    tokenRejected: false,
    auditLatest: {}, // scope → newest audit record
    info: null,
  };

  /* ------------------------------------------------------------------ API */

  class ApiError extends Error {
    constructor(status, code, message, fieldErrors) {
      super(message);
      this.status = status;
      this.code = code;
      this.fieldErrors = fieldErrors || [];
    }
  }

  /** Plain-words explanation of a failed call. */
  function describe(status, err) {
    const detail = err && err.message ? err.message : '';
    switch (status) {
      case 0: return 'The host cannot be reached: it may be stopped or the network is down. The console keeps retrying.';
      case 401: return 'This host requires an API token for that action. Enter it to continue.';
      case 403: return 'The API token was rejected. Enter the correct token and try again.';
      case 404: return 'Not found' + (detail ? ': ' + detail : '.');
      case 409: return 'Nothing to do: ' + (detail || 'the requested version does not exist.');
      case 422: return 'The values were rejected' + (detail ? ': ' + detail : '.');
      case 429: return 'Too many configuration changes by this author for now, so nothing was changed' + (detail ? ': ' + detail : '.');
      case 503: return 'The configuration store is unavailable right now, so nothing was changed. Try again shortly.' + (detail ? ' (' + detail + ')' : '');
      default:
        if (status >= 500) return 'The host reported an internal error (' + status + ')' + (detail ? ': ' + detail : '.');
        return 'The request failed (' + status + ')' + (detail ? ': ' + detail : '.');
    }
  }

  async function api(method, path, body, opts) {
    const options = opts || {};
    const headers = { Accept: 'application/json' };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = 'Bearer ' + token;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let resp;
    try {
      resp = await fetch(path, { method, headers, cache: 'no-store', body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      throw new ApiError(0, 'NETWORK', describe(0));
    }
    let json = null;
    try { json = await resp.json(); } catch (e) { json = null; }
    if (resp.status === 403) { state.tokenRejected = true; updateTokenButton(); }
    if ((resp.status === 401 || resp.status === 403) && !options.noAuthRetry) {
      const given = await askToken(describe(resp.status));
      if (given) return api(method, path, body, Object.assign({}, options, { noAuthRetry: true }));
    }
    if (resp.ok && method !== 'GET' && state.tokenRejected) { state.tokenRejected = false; updateTokenButton(); }
    if (!resp.ok || (json && json.success === false)) {
      const err = json && json.error && typeof json.error === 'object' ? json.error : (json && json.message ? { message: json.message } : null);
      const fieldErrors = err && err.details && Array.isArray(err.details.errors) ? err.details.errors.filter((x) => x && typeof x === 'object') : [];
      throw new ApiError(resp.status, err && err.code, describe(resp.status, err), fieldErrors);
    }
    return json;
  }

  /* --------------------------------------------------------- banner, token */

  function showBanner(text) {
    $('#banner-text').textContent = text;
    $('#banner').hidden = false;
  }
  function hideBanner() { $('#banner').hidden = true; }

  let tokenPrompt = null;
  /** Asks once for the bearer token (concurrent callers share one dialog); resolves true if one was given. */
  function askToken(why) {
    if (tokenPrompt) return tokenPrompt;
    const dialog = $('#token-dialog');
    $('#token-why').textContent = (why ? why + ' ' : '') +
      'The token is kept in this browser tab only (session storage) and sent in the Authorization header, never in a URL.';
    $('#token-input').value = '';
    tokenPrompt = new Promise((resolve) => {
      dialog.addEventListener('close', function onClose() {
        dialog.removeEventListener('close', onClose);
        tokenPrompt = null;
        const v = $('#token-input').value.trim();
        $('#token-input').value = '';
        if (dialog.returnValue === 'save' && v) { sessionStorage.setItem(TOKEN_KEY, v); state.tokenRejected = false; resolve(true); } else {
          if (dialog.returnValue === 'clear') sessionStorage.removeItem(TOKEN_KEY);
          resolve(false);
        }
        updateTokenButton();
      });
      dialog.showModal();
      $('#token-input').focus();
    });
    return tokenPrompt;
  }
  function updateTokenButton() {
    const has = !!sessionStorage.getItem(TOKEN_KEY);
    $('#token-btn').textContent = has && state.tokenRejected ? 'API token (rejected)' : has ? 'API token (set)' : 'API token';
  }

  function confirmAction(text, okLabel, detailNode) {
    const dialog = $('#confirm-dialog');
    $('#confirm-text').textContent = text;
    $('#confirm-detail').replaceChildren(...(detailNode ? [detailNode] : []));
    $('#confirm-ok').textContent = okLabel || 'Confirm';
    return new Promise((resolve) => {
      dialog.addEventListener('close', function onClose() {
        dialog.removeEventListener('close', onClose);
        resolve(dialog.returnValue === 'ok');
      });
      dialog.returnValue = '';
      dialog.showModal();
      $('#confirm-ok').focus();
    });
  }

  /* ------------------------------------------------------------ formatting */

  function num(v, digits) {
    if (typeof v !== 'number' || !isFinite(v)) return v === null || v === undefined ? '—' : String(v);
    return v.toLocaleString('en-US', { maximumFractionDigits: digits === undefined ? 4 : digits });
  }
  function signed(v, digits) {
    const s = num(v, digits);
    return typeof v === 'number' && v > 0 ? '+' + s : s;
  }
  function signClass(v) { return typeof v === 'number' ? (v > 0 ? 'pos' : v < 0 ? 'neg' : '') : ''; }
  /** The API's timestamps are ISO 8601, sometimes without a zone (UTC). */
  function parseTime(ts) {
    if (typeof ts === 'number') return new Date(ts > 1e12 ? ts : ts * 1000);
    if (typeof ts !== 'string') return null;
    const iso = /[zZ]|[+-]\d\d:?\d\d$/.test(ts) ? ts : ts + 'Z';
    const d = new Date(iso);
    return isNaN(d.getTime()) ? null : d;
  }
  function timeText(ts) {
    const d = parseTime(ts);
    return d ? d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : String(ts || '—');
  }
  function valueText(v) {
    if (v === undefined) return '(inherited)';
    if (v === null) return 'null';
    return typeof v === 'object' ? JSON.stringify(v) : String(v);
  }
  function same(a, b) { return JSON.stringify(a) === JSON.stringify(b); }

  /* ------------------------------------------------------------ strategies */

  async function loadStrategies() {
    try {
      const r = await api('GET', '/api/v1/strategies');
      state.strategies = r.data || [];
      $('#strategies-status').textContent = state.strategies.length + ' registered strategies. Choose one to see and edit its parameters.';
      renderStrategies();
      let wanted = '';
      try { wanted = decodeURIComponent(location.hash.replace(/^#/, '')); } catch (e) { wanted = ''; }
      const first = state.strategies.find((s) => s.strategy_id === wanted);
      if (first) selectStrategy(first.strategy_id);
    } catch (e) {
      $('#strategies-status').textContent = e.message;
      showBanner('Could not load the strategy list. ' + e.message);
      setTimeout(loadStrategies, 5000);
    }
  }

  /** Runtime state of a strategy from /info: ready, no data (with why) or disabled. */
  function runtimeBadge(s) {
    const st = state.info && state.info.strategies && state.info.strategies.status && state.info.strategies.status[s.strategy_id];
    if (!s.enabled || !st || st.state === 'disabled') return null;
    if (st.state === 'no_data') {
      const why = st.reason || 'waiting for data';
      return el('span', { class: 'badge nodata', 'data-runtime': 'no_data', title: why }, 'no data: ' + (why.length > 70 ? why.slice(0, 67) + '…' : why));
    }
    return el('span', { class: 'badge on', 'data-runtime': st.state }, st.state === 'ready' ? 'ready' : String(st.state));
  }

  function renderStrategies() {
    const list = $('#strategy-list');
    const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest('#strategy-list [data-strategy]');
    const focusId = focused ? focused.getAttribute('data-strategy') : null;
    list.replaceChildren(...state.strategies.map((s) => {
      const overrides = (s.has_global_config ? 1 : 0) + (s.symbol_overrides || []).length;
      return el('li', {},
        el('button', {
          type: 'button', class: 'strategy', 'data-strategy': s.strategy_id,
          'aria-current': state.strategy && state.strategy.strategy_id === s.strategy_id ? 'true' : 'false',
          onclick: () => selectStrategy(s.strategy_id, true),
        },
        el('span', { class: 'name' }, s.name || s.strategy_id),
        el('code', {}, s.strategy_id),
        el('span', { class: 'desc' }, s.description || ''),
        el('span', { class: 'badges' },
          el('span', { class: 'badge ' + (s.enabled ? 'on' : 'off') }, s.enabled ? 'enabled' : 'disabled'),
          runtimeBadge(s),
          s.type ? el('span', { class: 'badge' }, s.type) : null,
          el('span', { class: 'badge' }, (s.parameter_count || 0) + ' params'),
          overrides ? el('span', { class: 'badge' }, overrides + ' override' + (overrides > 1 ? 's' : '')) : null)));
    }));
    if (focusId) { const b = list.querySelector('[data-strategy="' + CSS.escape(focusId) + '"]'); if (b) b.focus(); }
    if (window.RSExplorer) window.RSExplorer.fillStrategies(state.strategies.map((s) => s.strategy_id));
  }

  async function refreshStrategyList() {
    try {
      const r = await api('GET', '/api/v1/strategies');
      state.strategies = r.data || [];
      if (state.strategy) state.strategy = state.strategies.find((s) => s.strategy_id === state.strategy.strategy_id) || state.strategy;
      renderStrategies();
      fillSymbolOptions();
    } catch (e) { /* the list stays as it was; the action that triggered this already reported */ }
  }

  /** Resolves true when there are no unsaved edits or the user agrees to drop them. */
  async function confirmDiscard(what) {
    if (!isDirty()) return true;
    return confirmAction('Discard your unsaved edits to ' + describeLoaded() + ' and ' + what + '?', 'Discard edits', diffPreview(state.config.parameters || {}, state.editor.getValue() || {}));
  }

  function describeLoaded() {
    const l = state.loaded;
    if (!l || !state.strategy) return 'this configuration';
    return state.strategy.strategy_id + (l.scope === 'symbol' ? ' for ' + l.symbol : ' for ALL symbols');
  }

  async function selectStrategy(id, fromUser) {
    const s = state.strategies.find((x) => x.strategy_id === id);
    if (!s) return;
    if (state.strategy && state.strategy.strategy_id !== id && !(await confirmDiscard('open ' + id))) return;
    state.strategy = s;
    renderStrategies();
    history.replaceState(null, '', '#' + enc(id));
    $('#config-panel').hidden = false;
    $('#audit-panel').hidden = false;
    document.dispatchEvent(new CustomEvent('rs:strategy', { detail: id }));
    $('#config-h').textContent = 'Parameters — ' + (s.name || id);
    $('#config-desc').textContent = s.description || '';
    if (fromUser) {
      const r = $('#config-panel').getBoundingClientRect();
      if (r.top < 0 || r.top > window.innerHeight * 0.6) $('#config-panel').scrollIntoView({ block: 'start' });
    }
    setStatus('Loading the schema…');
    fillSymbolOptions();
    try {
      const r = await api('GET', '/api/v1/strategies/' + enc(id) + '/schema');
      if (!state.strategy || state.strategy.strategy_id !== id) return;
      state.schema = (r.metadata && r.metadata.json_schema) || null;
      if (!state.schema) throw new ApiError(500, 'NO_SCHEMA', 'The host served no JSON Schema for ' + id + '.');
      await loadConfig();
      loadAudit();
    } catch (e) {
      setStatus(e.message, 'error');
    }
  }

  /* ------------------------------------------------------ schema → form */

  /** Glue for schemars output: keep the schema as served, only map storage formats (double, uint32, …) to the
   *  HTML number input and give the root the strategy's name. `$defs`/`$ref` and `["number", "null"]` unions are
   *  handled by json-editor itself. */
  function formSchema(schema, title) {
    const s = JSON.parse(JSON.stringify(schema));
    const walk = (node) => {
      if (!node || typeof node !== 'object') return;
      if (Array.isArray(node)) { node.forEach(walk); return; }
      const types = Array.isArray(node.type) ? node.type : [node.type];
      if ((types.includes('number') || types.includes('integer')) && typeof node.format === 'string' &&
          /^(u?int\d*|float|double|int)$/.test(node.format)) {
        node.format = 'number';
      }
      if (node.examples && !node.example) delete node.examples;
      Object.values(node).forEach(walk);
    };
    walk(s);
    s.title = title;
    delete s.description;
    return s;
  }

  /** Renders `schema` with json-editor into `holder`; resolves with the editor once it is ready. */
  function renderSchema(holder, schema, startval) {
    holder.replaceChildren();
    const editor = new window.JSONEditor(holder, {
      schema,
      startval,
      theme: 'html',
      iconlib: null,
      show_errors: 'never', // the API's validation is the only judge; its errors are shown by the glue
      disable_edit_json: true,
      disable_properties: true,
      disable_collapse: true,
      disable_array_delete_all_rows: true,
      disable_array_delete_last_row: true,
      prompt_before_delete: false,
      no_additional_properties: true,
      required_by_default: true,
      use_default_values: true,
    });
    return new Promise((resolve, reject) => {
      let done = false;
      editor.on('ready', () => { done = true; resolve(editor); });
      setTimeout(() => { if (!done) reject(new Error('The form could not be generated from the schema.')); }, 10000);
    });
  }

  function propertyNames() {
    return Object.keys((state.schema && state.schema.properties) || {});
  }

  function fieldEditor(name) {
    return state.editor ? state.editor.getEditor('root.' + name) : null;
  }

  /** Effective value / provenance line under every field. */
  function decorateFields() {
    const prov = (state.config && state.config.provenance) || {};
    const params = (state.config && state.config.parameters) || {};
    const current = state.editor.getValue() || {};
    for (const name of propertyNames()) {
      const ed = fieldEditor(name);
      if (!ed || !ed.container) continue;
      ed.container.setAttribute('data-field', name);
      let meta = ed.container.querySelector(':scope > .field-meta');
      if (!meta) {
        meta = el('div', { class: 'field-meta' });
        ed.container.append(meta);
      }
      const source = prov[name] || 'default';
      const changed = !same(current[name], params[name]);
      const spec = (state.schema.properties || {})[name] || {};
      const parts = [
        el('span', { class: 'prov prov-' + source, 'data-provenance': name, title: 'The effective value comes from the ' + source + ' layer' }, source),
        el('span', {}, 'effective ', el('code', { 'data-effective': name }, valueText(params[name]))),
      ];
      if ('default' in spec) parts.push(el('span', {}, 'default ', el('code', {}, valueText(spec.default))));
      if ('minimum' in spec || 'maximum' in spec) {
        parts.push(el('span', {}, 'range ', el('code', {}, ('minimum' in spec ? spec.minimum : '…') + ' – ' + ('maximum' in spec ? spec.maximum : '…'))));
      }
      if (changed) parts.push(el('span', { class: 'changed' }, 'edited, not saved'));
      meta.replaceChildren(...parts);
    }
  }

  /** Whether `s` is still the selected strategy (the list is reloaded after changes, so compare ids). */
  function isCurrent(s) { return !!state.strategy && state.strategy.strategy_id === s.strategy_id; }

  async function loadConfig() {
    const s = state.strategy;
    if (!s || !state.schema) return;
    const seq = ++state.configSeq;
    const path = '/api/v1/strategies/' + enc(s.strategy_id) + '/config' + (state.scope === 'symbol' ? '/' + enc(state.symbol) : '');
    setStatus('Loading the configuration…');
    let r;
    try {
      r = await api('GET', path);
    } catch (e) {
      setStatus(e.message, 'error');
      return;
    }
    if (!isCurrent(s) || seq !== state.configSeq) return;
    state.config = r.data || {};
    state.loaded = { scope: state.scope, symbol: state.symbol };
    const meta = [];
    meta.push(state.scope === 'symbol' ? 'Symbol ' + state.symbol : 'Global (all symbols)');
    meta.push('source: ' + (state.config.source || 'default'));
    if (state.config.global_version) meta.push('global override v' + state.config.global_version);
    if (state.config.symbol_version) meta.push('symbol override v' + state.config.symbol_version);
    if (state.config.updated_at) meta.push('updated ' + timeText(state.config.updated_at));
    if (r.metadata && r.metadata.stale) meta.push('store unavailable: showing the last known values');
    $('#config-meta').textContent = meta.join(' · ');
    state.editorReady = false;
    try {
      const holder = $('#param-form');
      if (state.editor) { try { state.editor.destroy(); } catch (e) { /* already gone */ } }
      state.editor = null;
      const editor = await renderSchema(holder, formSchema(state.schema, s.name || s.strategy_id), state.config.parameters);
      if (!isCurrent(s) || seq !== state.configSeq) { editor.destroy(); return; }
      state.editor = editor;
      state.editorReady = true;
      holder.setAttribute('data-strategy', s.strategy_id);
      decorateFields();
      showFieldErrors([]);
      editor.on('change', onFormChange);
      updateButtons();
      setStatus('');
    } catch (e) {
      setStatus(e.message, 'error');
    }
  }

  /** The override document to store for the current scope: what is already overridden at this layer plus
   *  every field the user changed. */
  function overridePayload() {
    const prov = state.config.provenance || {};
    const params = state.config.parameters || {};
    const value = state.editor.getValue() || {};
    const layer = state.scope === 'symbol' ? 'symbol' : 'global';
    const out = {};
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined) continue;
      if (prov[k] === layer || !same(v, params[k])) out[k] = v;
    }
    return out;
  }
  function isDirty() {
    if (!state.editorReady) return false;
    const value = state.editor.getValue() || {};
    const params = state.config.parameters || {};
    return Object.keys(value).some((k) => !same(value[k], params[k]));
  }
  function hasLayerOverride() {
    if (!state.config) return false;
    return state.scope === 'symbol' ? !!state.config.is_override : !!state.config.global_version;
  }
  /** The scope the scope form shows right now (which may not be loaded yet). */
  function shownScope() {
    const symbol = document.querySelector('input[name=scope]:checked').value === 'symbol';
    return symbol ? { scope: 'symbol', symbol: $('#symbol-input').value.trim().toUpperCase() } : { scope: 'global', symbol: null };
  }
  function scopeMatches() {
    const shown = shownScope();
    const l = state.loaded;
    return !!l && l.scope === shown.scope && (shown.scope === 'global' || l.symbol === shown.symbol);
  }

  function updateButtons() {
    const dirty = isDirty();
    const matches = scopeMatches();
    const l = state.loaded;
    $('#save-btn').textContent = !l ? 'Save' : l.scope === 'symbol' ? 'Save for ' + l.symbol : 'Save for ALL symbols';
    const hint = $('#scope-hint');
    if (!matches && l) {
      const shown = shownScope();
      hint.textContent = shown.scope === 'symbol' && !shown.symbol
        ? 'Type a symbol and press Load. The form below still shows ' + describeLoaded() + '.'
        : 'Press Load to edit ' + (shown.scope === 'symbol' ? shown.symbol : 'ALL symbols') + '. The form below still shows ' + describeLoaded() + ', and saving is off until the scope you chose is loaded.';
      hint.hidden = false;
    } else {
      hint.hidden = true;
    }
    $('#save-btn').disabled = !state.editorReady || !dirty || !matches;
    $('#discard-btn').disabled = !dirty;
    $('#delete-btn').disabled = !state.editorReady || !hasLayerOverride();
    $('#delete-btn').textContent = state.scope === 'symbol' ? 'Delete ' + state.symbol + ' override' : 'Delete global override';
  }

  function onFormChange() {
    if (!state.editorReady) return;
    decorateFields();
    updateButtons();
    clearTimeout(state.validateTimer);
    state.validateTimer = setTimeout(() => { validateNow(); }, 300);
  }

  /** Asks the API whether the current edits are valid; shows every error beside its field. Resolves true if valid. */
  async function validateNow() {
    if (!state.editorReady) return false;
    const seq = ++state.validateSeq;
    const parameters = overridePayload();
    if (Object.keys(parameters).length === 0) { showFieldErrors([]); return true; }
    const body = { strategy_id: state.strategy.strategy_id, parameters };
    if (state.scope === 'symbol') body.symbol = state.symbol;
    state.lastCheckError = null;
    try {
      const r = await api('POST', '/api/v1/config/validate', body);
      if (seq !== state.validateSeq) return false;
      const errors = (r.data && r.data.errors) || [];
      showFieldErrors(errors);
      if ($('#config-status').dataset.kind === 'check') setStatus('');
      return errors.length === 0 && r.data.validation_passed !== false;
    } catch (e) {
      if (seq === state.validateSeq) {
        state.lastCheckError = e;
        showFieldErrors(e.fieldErrors);
        setStatus('Could not check the values: ' + e.message, 'error');
        $('#config-status').dataset.kind = 'check';
      }
      return false;
    }
  }

  /** Finds the form field an API error names (JSON pointer such as `/buy_threshold` or `/exchanges/0`, or a name). */
  function editorForError(err) {
    const raw = String(err.pointer || err.field || '');
    const parts = raw.replace(/^#?\//, '').split(/[/.]/).filter(Boolean)
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    for (let n = parts.length; n > 0; n--) {
      const ed = state.editor && state.editor.getEditor('root.' + parts.slice(0, n).join('.'));
      if (ed && ed.container) return ed;
    }
    return null;
  }

  function showFieldErrors(errors) {
    state.lastErrors = errors || [];
    document.querySelectorAll('#param-form .api-error').forEach((n) => n.remove());
    document.querySelectorAll('#param-form [aria-invalid]').forEach((n) => {
      n.removeAttribute('aria-invalid');
      const ids = (n.getAttribute('aria-describedby') || '').split(' ').filter((x) => x && !x.startsWith('api-error-'));
      if (ids.length) n.setAttribute('aria-describedby', ids.join(' ')); else n.removeAttribute('aria-describedby');
    });
    const unplaced = [];
    state.lastErrors.forEach((err, i) => {
      const message = typeof err === 'string' ? err : err.message || JSON.stringify(err);
      const ed = typeof err === 'object' ? editorForError(err) : null;
      if (!ed) { unplaced.push(message); return; }
      const id = 'api-error-' + i;
      const node = el('p', { class: 'field-error api-error', id, 'data-error-for': ed.path.replace(/^root\./, '') }, message);
      const meta = ed.container.querySelector(':scope > .field-meta');
      if (meta) meta.before(node); else ed.container.append(node);
      const input = ed.input || ed.container.querySelector('input, select, textarea');
      if (input) {
        input.setAttribute('aria-invalid', 'true');
        input.setAttribute('aria-describedby', ((input.getAttribute('aria-describedby') || '') + ' ' + id).trim());
      }
    });
    const box = $('#form-errors');
    box.textContent = unplaced.join(' ');
    box.hidden = unplaced.length === 0;
  }

  function setStatus(text, kind) {
    const s = $('#config-status');
    s.textContent = text || '';
    s.className = 'status' + (kind ? ' ' + kind : '');
    delete s.dataset.kind;
  }

  function author() {
    const v = $('#author-input').value.trim();
    if (v) localStorage.setItem(AUTHOR_KEY, v);
    return v;
  }

  function requireReason() {
    const input = $('#reason-input');
    const err = $('#reason-error');
    const ok = input.value.trim().length > 0;
    err.textContent = ok ? '' : 'Give a reason: it is recorded in the change history.';
    err.hidden = ok;
    if (ok) input.removeAttribute('aria-invalid'); else { input.setAttribute('aria-invalid', 'true'); input.focus(); }
    return ok;
  }
  function requireAuthor() {
    if (author()) return true;
    setStatus('Enter your name as the author of the change.', 'error');
    $('#author-input').focus();
    return false;
  }

  function configPath() {
    return '/api/v1/strategies/' + enc(state.strategy.strategy_id) + '/config' + (state.scope === 'symbol' ? '/' + enc(state.symbol) : '');
  }

  /** Hands a value still being typed to json-editor now. */
  function commitTyping() {
    clearTimeout(state.typingTimer);
    const target = state.typingTarget;
    state.typingTarget = null;
    if (target && target.isConnected) target.dispatchEvent(new Event('change', { bubbles: true }));
  }

  async function save(ev) {
    ev.preventDefault();
    commitTyping();
    if (!state.editorReady || !isDirty()) return;
    if (!scopeMatches()) { updateButtons(); setStatus('Not saved: load the scope you chose first (see above).', 'error'); return; }
    if (!requireAuthor() || !requireReason()) return;
    setStatus('Checking…');
    clearTimeout(state.validateTimer);
    if (!(await validateNow())) {
      const e = state.lastCheckError;
      if (e && !(e.fieldErrors || []).length) {
        setStatus('Not saved. ' + e.message, 'error');
        return;
      }
      setStatus('Not saved: fix the fields marked in red.', 'error');
      const first = document.querySelector('#param-form [aria-invalid=true]');
      if (first) first.focus();
      return;
    }
    const target = describeLoaded();
    if (!(await confirmAction('Save these changes for ' + target + '? They are recorded as a new version.', state.loaded.scope === 'symbol' ? 'Save for ' + state.loaded.symbol : 'Save for ALL symbols',
      diffPreview(state.config.parameters || {}, state.editor.getValue() || {})))) { setStatus('Not saved.'); return; }
    setStatus('Saving…');
    try {
      const r = await api('POST', configPath(), { parameters: overridePayload(), changed_by: author(), reason: $('#reason-input').value.trim() });
      $('#reason-input').value = '';
      await loadConfig();
      setStatus('Saved as version ' + ((r.metadata && r.metadata.version) || (r.data && r.data.version) || '?') + '.', 'ok');
      loadAudit();
      refreshStrategyList();
    } catch (e) {
      showFieldErrors(e.fieldErrors);
      setStatus('Not saved. ' + e.message, 'error');
    }
  }

  async function deleteOverride() {
    if (!hasLayerOverride() || !requireAuthor() || !requireReason()) return;
    const what = state.scope === 'symbol' ? 'the ' + state.symbol + ' override' : 'the global override';
    if (!(await confirmAction('Delete ' + what + ' of ' + state.strategy.strategy_id + '? Its fields fall back to the inherited values. It can be restored from the change history.', 'Delete'))) return;
    setStatus('Deleting…');
    try {
      await api('DELETE', configPath() + '?changed_by=' + enc(author()) + '&reason=' + enc($('#reason-input').value.trim()));
      $('#reason-input').value = '';
      await loadConfig();
      setStatus('Deleted ' + what + '.', 'ok');
      loadAudit();
      refreshStrategyList();
    } catch (e) {
      setStatus('Not deleted. ' + e.message, 'error');
    }
  }

  /* ----------------------------------------------------------------- audit */

  /** Old → new of every field that differs, for confirmations. */
  function diffPreview(before, after) {
    const keys = [...new Set([...Object.keys(before || {}), ...Object.keys(after || {})])];
    const items = keys.filter((k) => after && k in after && !same(before[k], after[k])).map((k) =>
      el('li', { 'data-preview': k }, el('code', {}, k), ': ', el('del', {}, valueText(before[k])), ' → ', el('ins', {}, valueText(after[k]))));
    return el('ul', { class: 'diff preview' }, items.length ? items : el('li', { class: 'muted' }, 'no parameter change'));
  }

  function diffList(rec) {
    const before = rec.old_parameters || {};
    const after = rec.new_parameters || {};
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => k !== 'version');
    const items = keys.filter((k) => !same(before[k], after[k])).map((k) =>
      el('li', { 'data-diff': k }, el('code', {}, k), ': ',
        el('del', {}, valueText(rec.old_parameters ? before[k] : undefined)), ' → ',
        el('ins', {}, rec.new_parameters ? valueText(after[k]) : '(removed)')));
    return el('ul', { class: 'diff' }, items.length ? items : el('li', { class: 'muted' }, 'no parameter change'));
  }

  async function loadAudit() {
    const s = state.strategy;
    if (!s) return;
    const q = state.scope === 'symbol' ? '?symbol=' + enc(state.symbol) + '&limit=100' : '?limit=100';
    $('#audit-h').textContent = 'Change history — ' + s.strategy_id + (state.scope === 'symbol' ? ' / ' + state.symbol : ' (global and every symbol)');
    let r;
    try {
      r = await api('GET', '/api/v1/strategies/' + enc(s.strategy_id) + '/audit' + q);
    } catch (e) {
      $('#audit-status').textContent = e.message;
      return;
    }
    if (!isCurrent(s)) return;
    const records = r.data || [];
    $('#audit-status').textContent = records.length ? records.length + ' change' + (records.length > 1 ? 's' : '') + ', newest first.' : 'No changes recorded yet.';
    const latestByKey = {};
    for (const rec of records) { const k = rec.symbol || ''; if (!(k in latestByKey)) latestByKey[k] = rec; }
    state.auditLatest = latestByKey;
    $('#audit-table tbody').replaceChildren(...records.map((rec) => {
      const key = rec.symbol || '';
      const scope = rec.symbol || 'global';
      const latest = latestByKey[key] === rec;
      let action = null;
      if (rec.new_parameters && !latest) {
        action = el('button', { type: 'button', 'data-rollback': rec.version, 'data-scope': scope, onclick: () => rollback(rec) }, 'Roll back ' + scope + ' to v' + rec.version);
      } else if (!rec.new_parameters && latest) {
        action = el('button', { type: 'button', 'data-restore': scope, onclick: () => restore(rec) }, 'Restore ' + scope);
      } else if (latest) {
        action = el('span', { class: 'muted' }, 'current');
      }
      return el('tr', { 'data-version': rec.version, 'data-action': rec.action, 'data-operation': rec.operation || '', 'data-scope': scope },
        el('td', { 'data-label': 'Version' }, el('strong', { class: 'version' }, scope + ' v' + rec.version), el('br'),
          el('span', { class: 'muted operation' }, String(rec.operation || rec.action || '').toLowerCase())),
        el('td', { 'data-label': 'When' }, timeText(rec.changed_at)),
        el('td', { 'data-label': 'Scope' }, scope),
        el('td', { 'data-label': 'Who' }, rec.changed_by || '—'),
        el('td', { 'data-label': 'Why' }, rec.reason || '—'),
        el('td', { 'data-label': 'Changes' }, diffList(rec)),
        el('td', {}, action));
    }));
  }

  function scopeQuery(rec) { return rec.symbol ? '?symbol=' + enc(rec.symbol) : ''; }

  async function rollback(rec) {
    if (!requireAuthor()) return;
    const scope = rec.symbol || 'global';
    const current = (state.auditLatest[rec.symbol || ''] || {}).new_parameters || {};
    if (!(await confirmAction('Roll the ' + scope + ' configuration of ' + state.strategy.strategy_id + ' back to version ' + rec.version + '? This is recorded as a new version. The stored override changes as follows:', 'Roll back',
      diffPreview(current, rec.new_parameters || {})))) return;
    setStatus('Rolling back…');
    try {
      const reason = $('#reason-input').value.trim() || 'Rollback to version ' + rec.version + ' from the console';
      const r = await api('POST', '/api/v1/strategies/' + enc(state.strategy.strategy_id) + '/rollback' + scopeQuery(rec),
        { target_version: rec.version, changed_by: author(), reason });
      $('#reason-input').value = '';
      await loadConfig();
      setStatus('Rolled back to version ' + rec.version + ' (now version ' + ((r.metadata && r.metadata.version) || '?') + ').', 'ok');
      loadAudit();
      refreshStrategyList();
    } catch (e) {
      setStatus('Not rolled back. ' + e.message, 'error');
    }
  }

  async function restore(rec) {
    if (!requireAuthor()) return;
    const scope = rec.symbol || 'global';
    if (!(await confirmAction('Restore the deleted ' + scope + ' configuration of ' + state.strategy.strategy_id + '? These fields come back:', 'Restore',
      diffPreview({}, rec.old_parameters || {})))) return;
    setStatus('Restoring…');
    try {
      const reason = $('#reason-input').value.trim() || 'Restore from the console';
      await api('POST', '/api/v1/strategies/' + enc(state.strategy.strategy_id) + '/restore' + scopeQuery(rec), { changed_by: author(), reason });
      $('#reason-input').value = '';
      await loadConfig();
      setStatus('Restored the ' + scope + ' configuration.', 'ok');
      loadAudit();
      refreshStrategyList();
    } catch (e) {
      setStatus('Not restored. ' + e.message, 'error');
    }
  }

  /* ------------------------------------------------------------ scope form */

  function fillSymbolOptions() {
    const set = new Set(state.symbols);
    if (state.strategy) (state.strategy.symbol_overrides || []).forEach((x) => set.add(x));
    $('#symbol-options').replaceChildren(...[...set].sort().map((x) => el('option', { value: x })));
  }

  async function onScopeChange() {
    const symbol = document.querySelector('input[name=scope]:checked').value === 'symbol';
    if (!symbol && state.loaded && state.loaded.scope !== 'global' && !(await confirmDiscard('edit ALL symbols'))) {
      document.querySelector('input[name=scope][value=symbol]').checked = true;
      updateButtons();
      return;
    }
    $('#symbol-input').disabled = !symbol;
    $('#symbol-load').disabled = !symbol;
    if (!symbol) {
      state.scope = 'global';
      state.symbol = null;
      loadConfig().then(loadAudit);
    } else {
      $('#symbol-input').focus();
      updateButtons();
    }
  }

  async function applySymbol(ev) {
    if (ev) ev.preventDefault();
    const input = $('#symbol-input');
    const v = input.value.trim().toUpperCase();
    if (state.loaded && !(state.loaded.scope === 'symbol' && state.loaded.symbol === v) && !(await confirmDiscard('edit ' + v))) return;
    if (!/^[A-Z0-9]{1,32}$/.test(v)) {
      setStatus('Type a symbol of letters and digits, e.g. BTCUSDT.', 'error');
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    input.removeAttribute('aria-invalid');
    input.value = v;
    state.scope = 'symbol';
    state.symbol = v;
    loadConfig().then(loadAudit);
  }

  /* ---------------------------------------------------------------- market */

  function renderSummary(sum) {
    if (!sum) return;
    const ms = sum.market_sentiment || {};
    const liq = sum.liquidity || {};
    const items = [
      ['Symbols', num(sum.symbols_tracked, 0), 'symbols'],
      ['Bullish', num(ms.bullish_symbols, 0), 'bullish'],
      ['Bearish', num(ms.bearish_symbols, 0), 'bearish'],
      ['Neutral', num(ms.neutral_symbols, 0), 'neutral'],
      ['Avg pressure', signed(ms.avg_net_pressure, 2), 'pressure'],
      ['Avg spread bps', num(liq.avg_spread_bps, 2), 'spread'],
    ];
    $('#summary').replaceChildren(...items.map(([k, v, key]) => el('div', {}, el('dt', {}, k), el('dd', { 'data-summary': key }, v))));
  }

  function renderMarket(symbols) {
    const entries = Object.entries(symbols || {}).sort((a, b) => a[0].localeCompare(b[0]));
    state.symbols = entries.map(([s]) => s);
    fillSymbolOptions();
    const tbody = $('#market-table tbody');
    if (!entries.length) {
      tbody.replaceChildren(el('tr', {}, el('td', { colspan: 6, class: 'muted' }, 'No symbol has market data yet.')));
      return;
    }
    if (!state.selectedSymbol || !state.symbols.includes(state.selectedSymbol)) selectSymbol(state.symbols[0], true);
    const rows = [...tbody.querySelectorAll('tr[data-symbol]')];
    if (rows.length === entries.length && rows.every((tr, i) => tr.getAttribute('data-symbol') === entries[i][0])) {
      // Same symbols: update the cells in place so focus and reading position survive.
      entries.forEach(([sym, m], i) => {
        const cells = rows[i].querySelectorAll('td');
        const set = (td, text, cls) => { if (td.textContent !== text) td.textContent = text; td.className = cls; };
        set(cells[0], signed(m.net_pressure, 2), 'num ' + signClass(m.net_pressure));
        set(cells[1], signed(m.imbalance_percent, 2), 'num ' + signClass(m.imbalance_percent));
        set(cells[2], num(m.spread_bps, 2), 'num');
        set(cells[3], num(m.total_liquidity, 4), 'num');
        set(cells[4], m.trend || '—', m.trend === 'bullish' ? 'pos' : m.trend === 'bearish' ? 'neg' : '');
      });
      return;
    }
    tbody.replaceChildren(...entries.map(([sym, m]) => el('tr', { 'data-symbol': sym, class: sym === state.selectedSymbol ? 'selected' : '' },
      el('th', { scope: 'row' }, el('button', {
        type: 'button', class: 'link', 'aria-pressed': sym === state.selectedSymbol ? 'true' : 'false',
        'aria-label': 'Chart the pressure of ' + sym, onclick: () => selectSymbol(sym),
      }, sym)),
      el('td', { class: 'num ' + signClass(m.net_pressure) }, signed(m.net_pressure, 2)),
      el('td', { class: 'num ' + signClass(m.imbalance_percent) }, signed(m.imbalance_percent, 2)),
      el('td', { class: 'num' }, num(m.spread_bps, 2)),
      el('td', { class: 'num' }, num(m.total_liquidity, 4)),
      el('td', { class: m.trend === 'bullish' ? 'pos' : m.trend === 'bearish' ? 'neg' : '' }, m.trend || '—'))));
  }

  function onMarket(data) {
    state.lastMarketAt = Date.now();
    if (data.summary) renderSummary(data.summary);
    if (data.symbols) renderMarket(data.symbols);
    if (data.symbols && window.RSExplorer) window.RSExplorer.onMarket(data.symbols);
    if (Date.now() - state.chartAt > 2000) loadChart();
  }

  async function pollMarket() {
    try {
      const [sum, all] = await Promise.all([api('GET', '/api/v1/metrics/summary'), api('GET', '/api/v1/metrics/all?limit=200')]);
      onMarket({ summary: sum, symbols: all.data || {} });
    } catch (e) {
      if (e.status === 0) setStream(false, e.message);
    }
  }

  function selectSymbol(sym, quiet) {
    state.selectedSymbol = sym;
    document.querySelectorAll('#market-table tbody tr').forEach((tr) => {
      const on = tr.getAttribute('data-symbol') === sym;
      tr.classList.toggle('selected', on);
      const b = tr.querySelector('button');
      if (b) b.setAttribute('aria-pressed', on ? 'true' : 'false');
    });
    $('#chart-panel').hidden = false;
    $('#chart-h').textContent = 'Pressure — ' + sym;
    if (window.RSExplorer) window.RSExplorer.setSymbol(sym);
    if (!quiet) loadChart();
  }

  async function loadChart() {
    const sym = state.selectedSymbol;
    if (!sym || state.chartBusy) return;
    state.chartBusy = true;
    state.chartAt = Date.now();
    const tf = state.timeframe;
    try {
      const r = await api('GET', '/api/v1/metrics/pressure/' + enc(sym) + '?timeframe=' + enc(tf) + '&max_points=300');
      if (sym !== state.selectedSymbol || tf !== state.timeframe) return;
      const hist = r.pressure_history || [];
      const xs = [];
      const ys = [];
      for (const p of hist) {
        const d = parseTime(p.timestamp);
        if (d && typeof p.pressure === 'number') { xs.push(d.getTime() / 1000); ys.push(p.pressure); }
      }
      drawChart([xs, ys]);
      const s = r.summary || {};
      const ds = r.downsampling || {};
      const span = xs.length > 1 ? Math.round(xs[xs.length - 1] - xs[0]) : 0;
      $('#chart-summary').setAttribute('data-span-s', String(span));
      $('#chart-summary').textContent = tf + ' window: ' + (r.returned_data_points || xs.length) + ' points covering ' + span + ' s' +
        (ds.points_per_bucket > 1 ? ' (each the mean of ' + ds.points_per_bucket + ' of ' + ds.source_points + ' samples)' : ' (every sample)') + ', average ' + signed(s.avg_pressure, 2) +
        ', range ' + num(s.min_pressure, 2) + ' to ' + num(s.max_pressure, 2) + ', trend ' + (s.trend || '—') + '.';
    } catch (e) {
      $('#chart-summary').textContent = 'No pressure history for ' + sym + ': ' + e.message;
    } finally {
      state.chartBusy = false;
    }
  }

  function chartSize() {
    const w = Math.max(240, $('#chart').clientWidth || 600);
    return { width: w, height: Math.round(Math.min(260, Math.max(180, w * 0.4))) };
  }

  function drawChart(data) {
    if (!window.uPlot) return;
    if (state.chart) { state.chart.setData(data); return; }
    const size = chartSize();
    state.chart = new window.uPlot({
      width: size.width,
      height: size.height,
      legend: { show: true },
      tzDate: (ts) => window.uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'),
      scales: { x: { time: true }, y: { range: (u, min, max) => { const m = Math.max(10, Math.abs(min || 0), Math.abs(max || 0)); return [-m, m]; } } },
      axes: [{}, { label: 'net pressure', size: 60 }],
      series: [{}, { label: 'net pressure', stroke: '#1f5fbf', width: 1.5, fill: 'rgba(31,95,191,0.08)' }],
    }, data, $('#chart'));
  }

  /* --------------------------------------------------------------- signals */

  /** Live signals go to the signal explorer (explorer.js), which owns the table. */
  function onSignal(sig) {
    if (window.RSExplorer) window.RSExplorer.add(sig);
  }

  /* ------------------------------------------------------------------ live */

  const streams = { market: false, signals: false };
  function isReplay() { return !!(state.info && state.info.source && state.info.source.kind === 'replay'); }

  function setStream(ok, why) {
    const pill = $('#stream-status');
    const label = isReplay() ? 'replaying (not live)' : 'live';
    pill.textContent = ok ? label : (why ? 'offline — ' + why : 'stream disconnected — retrying');
    pill.className = 'pill ' + (ok ? (isReplay() ? 'replay' : 'live') : 'down');
    if (!ok && why) showBanner(why);
  }

  function openStream(name, path, event, handler) {
    const es = new EventSource(path);
    es.addEventListener('open', () => {
      const wasDown = streams.lost;
      streams[name] = true;
      if (streams.market && streams.signals) {
        setStream(true);
        hideBanner();
        if (wasDown) { streams.lost = false; refreshAll(); }
      }
    });
    es.addEventListener(event, (ev) => {
      try { handler(JSON.parse(ev.data)); } catch (e) { /* a malformed event is skipped */ }
    });
    es.addEventListener('error', () => {
      streams[name] = false;
      streams.lost = true;
      setStream(false);
    });
    return es;
  }

  /** After the host comes back (a restart, the network): everything shown is fetched again. */
  function refreshAll() {
    loadInfo();
    refreshStrategyList();
    pollMarket();
    if (state.strategy && !isDirty()) { loadConfig(); loadAudit(); }
    if (window.RSScorecard) window.RSScorecard.reload();
  }

  function showSource(info) {
    const src = info.source || {};
    if (streams.market && streams.signals) setStream(true);
    const banner = $('#source-banner');
    if (src.kind !== 'replay') { banner.hidden = true; $('#signals-h').textContent = 'Signals'; return; }
    const last = info.processing && info.processing.last_event_time_ms;
    const when = last ? new Date(last).toISOString().slice(0, 19).replace('T', ' ') + ' UTC' : 'not started';
    $('#source-banner-text').textContent = 'STANDALONE REPLAY — market data is ' + (src.detail || 'a recording') +
      ', not a live feed (replayed event time ' + when + '). Signals are printed here and NOT traded.';
    banner.hidden = false;
    $('#signals-h').textContent = 'Signals (replay — not traded)';
  }

  async function loadInfo() {
    try {
      const r = await fetch('/info', { headers: { Accept: 'application/json' }, cache: 'no-store' });
      const info = await r.json();
      state.info = info;
      showSource(info);
      renderStrategies();
      const ver = info.service && info.service.version;
      $('#host-version').textContent = ver ? 'v' + ver : '';
      const src = info.source || (info.configuration && info.configuration.source) || null;
      const text = typeof src === 'string' ? src : src && (src.kind || src.mode || src.description);
      $('#source-status').textContent = text ? 'source: ' + text : 'source: ' + (info.configuration && info.configuration.nats_url ? 'NATS' : 'replay');
    } catch (e) {
      $('#source-status').textContent = 'source: unknown';
    }
  }

  /* ------------------------------------------------------------------ init */

  function init() {
    updateTokenButton();
    $('#author-input').value = localStorage.getItem(AUTHOR_KEY) || '';
    $('#banner-close').addEventListener('click', hideBanner);
    $('#token-btn').addEventListener('click', () => askToken(''));
    $('#scope-form').addEventListener('submit', applySymbol);
    document.querySelectorAll('input[name=scope]').forEach((r) => r.addEventListener('change', onScopeChange));
    $('#save-form').addEventListener('submit', save);
    $('#reason-input').addEventListener('input', () => { if ($('#reason-input').value.trim()) { $('#reason-error').hidden = true; $('#reason-input').removeAttribute('aria-invalid'); } });
    $('#discard-btn').addEventListener('click', async () => { await loadConfig(); setStatus('Edits discarded.'); });
    $('#symbol-input').addEventListener('input', updateButtons);
    $('#delete-btn').addEventListener('click', deleteOverride);
    // json-editor takes a value on `change`; commit a typed value after a short pause so it is checked as you type.
    $('#param-form').addEventListener('input', (ev) => {
      clearTimeout(state.typingTimer);
      state.typingTarget = ev.target;
      state.typingTimer = setTimeout(commitTyping, 500);
    });
    document.querySelectorAll('input[name=timeframe]').forEach((r) => r.addEventListener('change', () => {
      state.timeframe = r.value;
      if (state.chart) { state.chart.destroy(); state.chart = null; }
      loadChart();
    }));
    if (window.ResizeObserver) {
      new ResizeObserver(() => { if (state.chart) state.chart.setSize(chartSize()); }).observe($('#chart'));
    }
    window.addEventListener('online', hideBanner);
    window.addEventListener('offline', () => showBanner(describe(0)));

    loadInfo();
    setInterval(loadInfo, 15000);
    loadStrategies();
    pollMarket();
    openStream('market', '/api/v1/stream/market', 'market', onMarket);
    openStream('signals', '/api/v1/stream/signals', 'signal', onSignal);
    // When the stream is down the table still refreshes from the REST endpoints.
    setInterval(() => { if (Date.now() - state.lastMarketAt > 5000) pollMarket(); }, 5000);
  }

  // The scorecard panel (scorecard.js) uses the same API client, dialogs and formatting.
  window.RSConsoleCore = {
    api, el, num, signed, signClass, enc: (x) => enc(x), confirmAction, author, requireAuthor,
    current: () => state.strategy && state.strategy.strategy_id,
    reason: () => $('#reason-input').value.trim(),
    afterConfigChange: () => { loadConfig(); loadAudit(); refreshStrategyList(); },
  };

  // For the browser test: render any schema with the same glue (proves nullable unions, $defs and $ref).
  window.RSConsole = {
    renderSchema: (holder, schema) => renderSchema(holder, formSchema(schema, schema.title || 'test'), undefined),
  };

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init); else init();
})();
