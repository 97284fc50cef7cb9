// The page: wires the editor, time range, histogram, result list, live tail, history panel and
// label browser to the page state and the URL, and runs queries. Timings of the last run are
// kept in `window.logqPerf` (Enter to first lines painted), read by the browser tests.

import { ApiError, get, request } from './api.js';
import { formatBytes, labelsText, msToNs } from './format.js';
import { levelOf } from './fields.js';
import { Editor } from './editor.js';
import { Histogram } from './histogram.js';
import { HistoryPanel } from './history.js';
import { LabelBrowser } from './labels.js';
import { LIVE_CAP, LiveTail } from './live.js';
import { addMatcher, isLogQuery, replaceSelector } from './logql.js';
import { ResultsList, makeEntry } from './results.js';
import { currentRange, readUrl, state, writeUrl } from './state.js';
import { TimeRange } from './timerange.js';

const $ = (id) => document.getElementById(id);
const perf = { runs: 0, last: null };
window.logqPerf = perf;

let toastTimer = null;
function toast(text) {
  const t = $('toast');
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 1800);
}

function setStatus(text, error = false) {
  $('status').textContent = text;
  $('status').classList.toggle('error', error);
}

const valueCache = new Map();
const labels = new LabelBrowser({
  onApply: (sel) => {
    editor.value = state.query.trim() ? replaceSelector(editor.value, sel) : sel;
    run();
  },
});
const editor = new Editor({
  onRun: () => run({ viaKeyboard: true }),
  labelNames: async () => {
    if (labels.labelNames().length) return labels.labelNames();
    const { start, end } = currentRange();
    const body = await get('/loki/api/v1/labels', { start: msToNs(start), end: msToNs(end) });
    return (body.data || []).filter((n) => !n.startsWith('__'));
  },
  labelValues: async (name) => {
    const key = `${state.tenant}\u0000${name}`;
    if (!valueCache.has(key)) {
      const { start, end } = currentRange();
      const body = await get(`/loki/api/v1/label/${encodeURIComponent(name)}/values`, { start: msToNs(start), end: msToNs(end) });
      valueCache.set(key, body.data || []);
      setTimeout(() => valueCache.delete(key), 30000);
    }
    return valueCache.get(key);
  },
});
const timeRange = new TimeRange({
  onChange: () => { labels.refresh(); run(); },
  onZoneChange: () => { writeUrl(); results.relayout(true); histogram.draw(); },
});
const histogram = new Histogram({
  onZoom: (start, end) => {
    if (state.live) setLive(false);
    timeRange.setAbsolute(start, end);
    run({ push: true });
  },
  onFilter: (q) => { editor.value = q; run({ push: true }); },
  streamLabels: () => new Set(labels.labelNames()),
});
const results = new ResultsList({
  onAddLabel: (k, v) => { editor.value = addMatcher(editor.value, k, v); run({ push: true }); },
  onContext: (e) => showContext(e),
  toast,
});
const historyPanel = new HistoryPanel({ toast });

function entriesOf(streams) {
  const out = [];
  for (const s of streams) {
    for (const v of s.values) {
      const extra = v[2] || {};
      out.push(makeEntry(s.stream, v, levelOf(s.stream, extra.structuredMetadata, extra.parsed, v[1])));
    }
  }
  return out;
}

function sortEntries(entries, direction) {
  const cmp = (a, b) => (a.ts.length - b.ts.length) || (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0);
  return entries.sort(direction === 'forward' ? cmp : (a, b) => cmp(b, a));
}

/** Entries of a matrix result, one row per series (metric queries in the list). */
function metricEntries(result) {
  return result.map((s) => {
    const last = s.values ? s.values[s.values.length - 1] : s.value;
    const ts = msToNs((last ? Number(last[0]) : 0) * 1000);
    const points = s.values ? s.values.length : 1;
    return makeEntry(s.metric, [ts, `${last ? last[1] : '—'}   (last of ${points} point${points === 1 ? '' : 's'})`], 'unknown');
  });
}

function showPath(headers, stats) {
  const badge = $('path-badge');
  const path = headers && headers.get('X-Logq-Path');
  if (!path) { badge.hidden = true; return; }
  const used = stats && stats.summary && stats.summary.historyIndexesUsed;
  badge.hidden = false;
  badge.dataset.path = path;
  badge.textContent = { history: 'answered by the history index', scan: 'answered by a scan', mixed: 'history index + scan' }[path] || `path: ${path}`;
  badge.title = `X-Logq-Path: ${path}${used !== undefined ? `; history indexes used: ${used}` : ''}`;
}

let abort = null;
let lastBatch = 0;

/** Runs the query in the editor (or restarts Live with it). */
async function run({ push = false, viaKeyboard = false } = {}) {
  const startedAt = performance.now();
  state.query = editor.value;
  writeUrl(push);
  editor.clearError();
  if (state.live) { startLive(); return; }
  if (abort) abort.abort();
  abort = new AbortController();
  const signal = abort.signal;
  const q = state.query.trim();
  if (!q) { setStatus('Type a LogQL query, e.g. {service="api"}', true); return; }
  const { start, end } = currentRange();
  const logQuery = isLogQuery(q);
  if (logQuery) histogram.load(q, start, end); else histogram.clear('Volume is shown for log queries.');
  setStatus('Running…');
  $('older').hidden = true;
  try {
    const { body, headers } = await request('GET', '/loki/api/v1/query_range', {
      query: q, start: msToNs(start), end: msToNs(end), limit: String(state.limit), direction: state.direction,
    }, { signal, extraHeaders: { 'X-Loki-Response-Encoding-Flags': 'categorize-labels' } });
    const data = body.data;
    const entries = data.resultType === 'streams' ? sortEntries(entriesOf(data.result), state.direction) : metricEntries(data.result);
    lastBatch = entries.length;
    results.setEntries(entries);
    const s = data.stats && data.stats.summary;
    const took = performance.now() - startedAt;
    setStatus(data.resultType === 'streams'
      ? `${entries.length.toLocaleString()} lines${entries.length >= state.limit ? ` (limit ${state.limit})` : ''} in ${Math.round(took)} ms${s ? `; processed ${Number(s.totalLinesProcessed).toLocaleString()} lines, ${formatBytes(s.totalBytesProcessed)}` : ''}`
      : `${entries.length} series in ${Math.round(took)} ms`);
    showPath(headers, data.stats);
    $('older').hidden = !(data.resultType === 'streams' && entries.length >= state.limit);
    $('older').textContent = state.direction === 'backward' ? 'Load older' : 'Load newer';
    // After the next frame is painted: Enter to first lines on screen.
    requestAnimationFrame(() => setTimeout(() => {
      perf.runs += 1;
      perf.last = { lines: entries.length, ms: performance.now() - startedAt, viaKeyboard, query: q };
    }, 0));
  } catch (e) {
    if (e.name === 'AbortError') return;
    results.setEntries([]);
    histogram.clear('');
    $('path-badge').hidden = true;
    if (e instanceof ApiError && e.status === 400) editor.setError(e.message);
    setStatus(e.message, true);
  }
}

async function loadOlder() {
  const last = results.last();
  if (!last) return;
  const { start, end } = currentRange();
  const backward = state.direction === 'backward';
  const params = backward
    ? { start: msToNs(start), end: (BigInt(last.ts) + 1n).toString() }
    : { start: last.ts, end: msToNs(end) };
  // The entries at the boundary timestamp come again (the range must include that instant, as
  // more lines may share it); ask for that many more so a page still brings `limit` new lines.
  let atBoundary = 0;
  for (let i = results.entries.length - 1; i >= 0 && results.entries[i].ts === last.ts; i -= 1) atBoundary += 1;
  $('older').disabled = true;
  try {
    const { body } = await request('GET', '/loki/api/v1/query_range', {
      query: state.query, ...params, limit: String(state.limit + atBoundary), direction: state.direction,
    }, { extraHeaders: { 'X-Loki-Response-Encoding-Flags': 'categorize-labels' } });
    const entries = sortEntries(entriesOf(body.data.result), state.direction);
    const added = results.append(entries);
    setStatus(`${results.entries.length.toLocaleString()} lines (${added} more)`);
    $('older').hidden = added === 0 || entries.length < state.limit + atBoundary;
  } catch (e) {
    setStatus(e.message, true);
  } finally {
    $('older').disabled = false;
  }
}

async function showContext(e) {
  const dlg = $('context');
  const list = $('context-lines');
  $('context-title').textContent = `Context of ${labelsText(e.labels)}`;
  list.innerHTML = '<li class="muted">loading…</li>';
  if (!dlg.open) dlg.showModal();
  const sel = labelsText(e.labels);
  const hour = 3600e3;
  try {
    const [before, after] = await Promise.all([
      get('/loki/api/v1/query_range', { query: sel, start: msToNs(e.ms - hour), end: e.ts, limit: '10', direction: 'backward' }),
      get('/loki/api/v1/query_range', { query: sel, start: (BigInt(e.ts) + 1n).toString(), end: msToNs(e.ms + hour), limit: '10', direction: 'forward' }),
    ]);
    const b = sortEntries(entriesOf(before.data.result), 'forward');
    const a = sortEntries(entriesOf(after.data.result), 'forward');
    list.textContent = '';
    const add = (x, current) => {
      const li = document.createElement('li');
      li.className = `lvl-${x.level}${current ? ' current' : ''}`;
      if (current) li.setAttribute('aria-current', 'true');
      const time = document.createElement('time');
      time.textContent = new Date(x.ms).toISOString();
      li.append(time, ` ${x.line}`);
      list.appendChild(li);
    };
    b.forEach((x) => add(x, false));
    add(e, true);
    a.forEach((x) => add(x, false));
    list.querySelector('.current').scrollIntoView({ block: 'center' });
  } catch (err) {
    list.innerHTML = '';
    const li = document.createElement('li');
    li.className = 'error';
    li.textContent = err.message;
    list.appendChild(li);
  }
}

// Live mode.
let live = null;
function renderLiveStats(s) {
  const el = $('live-stats');
  el.hidden = false;
  el.dataset.state = s.state;
  const parts = [
    s.paused ? 'paused' : s.state,
    `${s.rate.toFixed(1)} lines/s`,
    `${s.received.toLocaleString()} received`,
    `${s.dropped.toLocaleString()} dropped by the server`,
  ];
  if (s.buffered) parts.push(`${s.buffered.toLocaleString()} waiting`);
  if (s.trimmed) parts.push(`${s.trimmed.toLocaleString()} trimmed (buffer full)`);
  if (s.error && s.state !== 'streaming') parts.push(s.error);
  el.textContent = parts.join(' · ');
}

function startLive() {
  if (live) live.stop();
  const q = state.query.trim();
  if (!isLogQuery(q)) {
    setStatus('Live needs a log query (a stream selector first).', true);
    return;
  }
  results.setEntries([]);
  $('older').hidden = true;
  $('path-badge').hidden = true;
  histogram.clear('Volume is not drawn in Live mode.');
  setStatus(`Live: ${q}`);
  live = new LiveTail({
    query: q,
    limit: state.limit,
    onLines: (streams) => results.prepend(sortEntries(entriesOf(streams), 'backward'), LIVE_CAP),
    onStats: renderLiveStats,
  });
  live.setPaused(state.paused);
}

function setLive(on) {
  state.live = on;
  if (!on) state.paused = false;
  $('live').setAttribute('aria-pressed', String(on));
  $('pause').hidden = !on;
  syncPause();
  if (!on) {
    if (live) live.stop();
    live = null;
    $('live-stats').hidden = true;
  }
}

function syncPause() {
  $('pause').setAttribute('aria-pressed', String(state.paused));
  $('pause').textContent = state.paused ? 'Resume' : 'Pause';
}

$('live').addEventListener('click', () => {
  setLive(!state.live);
  run({ push: true });
});
$('pause').addEventListener('click', () => {
  state.paused = !state.paused;
  syncPause();
  if (live) live.setPaused(state.paused);
  writeUrl();
});
$('older').addEventListener('click', loadOlder);
$('search').addEventListener('submit', (e) => { e.preventDefault(); run(); });
$('limit').addEventListener('change', () => { state.limit = Number($('limit').value); run(); });
$('direction').addEventListener('change', () => { state.direction = $('direction').value; run(); });
$('context-close').addEventListener('click', () => $('context').close());

// Tenant: every request carries it; everything is reloaded for the new tenant.
$('tenant').addEventListener('change', () => {
  state.tenant = $('tenant').value.trim();
  valueCache.clear();
  labels.refresh();
  historyPanel.refresh();
  run({ push: true });
});

// Theme.
function syncTheme() {
  const dark = document.documentElement.dataset.theme === 'dark';
  $('theme').setAttribute('aria-pressed', String(dark));
}
$('theme').addEventListener('click', () => {
  const next = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
  document.documentElement.dataset.theme = next;
  try { localStorage.setItem('logq-theme', next); } catch (e) { /* not persisted */ }
  syncTheme();
  histogram.draw();
});

// Keyboard: "/" focuses the query from anywhere but text fields.
document.addEventListener('keydown', (e) => {
  if (e.key === '/' && !e.ctrlKey && !e.metaKey && !/^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName)) {
    e.preventDefault();
    editor.focus();
  }
});

/** Shows `state` in every control. */
function syncControls() {
  editor.value = state.query;
  timeRange.sync();
  $('limit').value = String(state.limit);
  if ($('limit').value !== String(state.limit)) {
    const o = document.createElement('option');
    o.textContent = String(state.limit);
    $('limit').appendChild(o);
    $('limit').value = String(state.limit);
  }
  $('direction').value = state.direction;
  $('tenant').value = state.tenant;
  $('live').setAttribute('aria-pressed', String(state.live));
  $('pause').hidden = !state.live;
  syncPause();
  syncTheme();
}

window.addEventListener('popstate', () => {
  const wasLive = state.live;
  readUrl();
  syncControls();
  if (wasLive && !state.live) setLive(false);
  run();
});

readUrl();
syncControls();
labels.refresh();
historyPanel.refresh();
run();
// Export for the console and tests.
window.logq = { state, run, results, liveSocket: () => live && live.ws };
