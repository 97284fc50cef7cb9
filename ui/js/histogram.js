// The log volume histogram: bars stacked by level over the selected range, from `query_range`
// metric queries (`sum by (level, detected_level) (count_over_time(...))`; when no series has a
// level, the line is parsed with `| json` or `| logfmt`). Dragging across it zooms to that time
// range; a level button filters the query to that level.

import { get } from './api.js';
import { LEVEL_ORDER, escapeValue, formatTime, msToNs, normalizeLevel } from './format.js';
import { addMatcher } from './logql.js';
import { state } from './state.js';

const SVG = 'http://www.w3.org/2000/svg';
const STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
const HEIGHT = 120;
const PAD = { left: 44, right: 8, top: 8, bottom: 20 };

/** The bar width in seconds for a range: the smallest step giving at most ~100 bars. */
export function stepFor(rangeMs) {
  const want = rangeMs / 1000 / 100;
  return STEPS.find((s) => s >= want) || Math.ceil(want / 86400) * 86400;
}

function el(name, attrs = {}) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

/** The histogram in `#volume`. */
export class Histogram {
  /**
   * @param {object} o
   * @param {(start: number, end: number) => void} o.onZoom a dragged range, in ms
   * @param {(query: string) => void} o.onFilter the query narrowed to one level
   * @param {() => Set<string>} o.streamLabels label names that are stream labels
   */
  constructor({ onZoom, onFilter, streamLabels }) {
    this.chart = document.getElementById('volume-chart');
    this.legend = document.getElementById('volume-levels');
    this.statusEl = document.getElementById('volume-status');
    this.onZoom = onZoom;
    this.onFilter = onFilter;
    this.streamLabels = streamLabels;
    this.data = null;
    this.abort = null;
    new ResizeObserver(() => this.draw()).observe(this.chart);
  }

  /** Loads and draws the volume of log query `query` over [start, end) ms. */
  async load(query, start, end) {
    if (this.abort) this.abort.abort();
    const abort = new AbortController();
    this.abort = abort;
    this.statusEl.textContent = 'loading…';
    const step = stepFor(end - start);
    const params = { start: msToNs(start), end: msToNs(end), step: `${step}s` };
    const hasParser = /\|\s*(json|logfmt)\b/.test(query);
    // Levels from labels first; lines left without one are parsed (`| logfmt`, `| json`, whose
    // `level` fills in where no stream label has one) and the attempt leaving fewest unknown wins.
    const attempts = [{ suffix: '', parser: '' }];
    if (!hasParser) attempts.push({ suffix: ' | logfmt | drop __error__, __error_details__', parser: 'logfmt' }, { suffix: ' | json | drop __error__, __error_details__', parser: 'json' });
    const unknown = (r) => r.filter((x) => !x.metric.level && !x.metric.detected_level).reduce((a, x) => a + x.values.reduce((b, v) => b + Number(v[1]), 0), 0);
    try {
      let result = null;
      let used = attempts[0];
      let best = Infinity;
      for (const a of attempts) {
        const body = await get('/loki/api/v1/query_range', {
          ...params,
          query: `sum by (level, detected_level) (count_over_time(${query}${a.suffix} [${step}s]))`,
        }, { signal: abort.signal });
        const r = body.data.result;
        const u = unknown(r);
        if (u < best) { result = r; used = a; best = u; }
        if (u === 0) break;
      }
      if (abort.signal.aborted) return;
      this.data = this.bucket(result, start, end, step, query, used.parser);
      const total = this.data.totals.reduce((a, b) => a + b, 0);
      this.statusEl.textContent = `${total.toLocaleString()} lines, ${step >= 60 ? `${step / 60}m` : `${step}s`} bars`;
    } catch (e) {
      if (e.name === 'AbortError') return;
      this.data = null;
      this.statusEl.textContent = `volume unavailable: ${e.message.split('\n')[0]}`;
    }
    this.draw();
  }

  /** Shows that the histogram does not apply (metric queries, live mode). */
  clear(reason) {
    if (this.abort) this.abort.abort();
    this.data = null;
    this.statusEl.textContent = reason;
    this.draw();
  }

  bucket(series, start, end, step, query, parser) {
    const stepMs = step * 1000;
    const first = Math.floor(start / stepMs) * stepMs;
    const n = Math.max(1, Math.ceil((end - first) / stepMs));
    const levels = new Map(); // normalised level -> {counts, raw: Set, key}
    for (const s of series) {
      const key = s.metric.level ? 'level' : s.metric.detected_level ? 'detected_level' : null;
      const raw = key ? s.metric[key] : '';
      const lvl = normalizeLevel(raw);
      if (!levels.has(lvl)) levels.set(lvl, { counts: new Array(n).fill(0), raw: new Set(), keys: new Set() });
      const L = levels.get(lvl);
      L.raw.add(raw);
      if (key) L.keys.add(key);
      for (const [t, v] of s.values) {
        const i = Math.floor((t * 1000 - first) / stepMs);
        if (i >= 0 && i < n) L.counts[i] += Number(v);
      }
    }
    const order = LEVEL_ORDER.filter((l) => levels.has(l));
    const totals = new Array(n).fill(0);
    for (const l of order) levels.get(l).counts.forEach((c, i) => { totals[i] += c; });
    return { first, stepMs, n, start, end, levels, order, totals, query, parser };
  }

  /** The query narrowed to one level of the chart. */
  filterFor(level) {
    const d = this.data;
    const L = d.levels.get(level);
    const raw = [...L.raw];
    const key = [...L.keys][0] || 'level';
    const value = raw.length === 1 ? raw[0] : raw.map((r) => r.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
    const op = raw.length === 1 ? '=' : '=~';
    if (key === 'level' && !d.parser && this.streamLabels().has('level')) return addMatcher(d.query, key, value, op);
    return `${d.query}${d.parser ? ` | ${d.parser}` : ''} | ${key}${op}"${escapeValue(value)}"`;
  }

  draw() {
    const d = this.data;
    this.chart.textContent = '';
    this.legend.textContent = '';
    const width = this.chart.clientWidth || 600;
    const svg = el('svg', { width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`, role: 'img', class: 'chart' });
    const total = d ? d.totals.reduce((a, b) => a + b, 0) : 0;
    svg.setAttribute('aria-label', d ? `Log volume by level: ${d.order.map((l) => `${l} ${d.levels.get(l).counts.reduce((a, b) => a + b, 0)}`).join(', ')}. Drag to zoom.` : 'No volume data');
    this.chart.appendChild(svg);
    if (!d || total === 0) {
      const t = el('text', { x: width / 2, y: HEIGHT / 2, 'text-anchor': 'middle', class: 'axis' });
      t.textContent = d ? 'no lines in this range' : '';
      svg.appendChild(t);
      return;
    }
    const plotW = width - PAD.left - PAD.right;
    const plotH = HEIGHT - PAD.top - PAD.bottom;
    const max = Math.max(...d.totals);
    const x = (ms) => PAD.left + ((ms - d.start) / (d.end - d.start)) * plotW;
    const y = (v) => PAD.top + plotH - (v / max) * plotH;
    // Axes: max count, and a few time ticks.
    svg.appendChild(el('line', { x1: PAD.left, x2: width - PAD.right, y1: PAD.top + plotH, y2: PAD.top + plotH, class: 'grid' }));
    const maxLabel = el('text', { x: PAD.left - 4, y: PAD.top + 8, 'text-anchor': 'end', class: 'axis' });
    maxLabel.textContent = String(max);
    svg.appendChild(maxLabel);
    const ticks = Math.max(2, Math.floor(plotW / 140));
    for (let i = 0; i <= ticks; i += 1) {
      const ms = d.start + ((d.end - d.start) * i) / ticks;
      const t = el('text', { x: x(ms), y: HEIGHT - 5, 'text-anchor': i === 0 ? 'start' : i === ticks ? 'end' : 'middle', class: 'axis' });
      t.textContent = formatTime(ms, state.tz, false).slice(d.end - d.start > 86400e3 ? 5 : 11, 16);
      svg.appendChild(t);
    }
    const barW = Math.max(1, (d.stepMs / (d.end - d.start)) * plotW - 1);
    const g = el('g', { class: 'bars' });
    for (let i = 0; i < d.n; i += 1) {
      if (d.totals[i] === 0) continue;
      let acc = 0;
      const bx = Math.max(PAD.left, x(d.first + i * d.stepMs));
      const w = Math.min(barW, width - PAD.right - bx);
      if (w <= 0) continue;
      for (const lvl of [...d.order].reverse()) {
        const c = d.levels.get(lvl).counts[i];
        if (!c) continue;
        const r = el('rect', { x: bx, y: y(acc + c), width: w, height: Math.max(1, y(acc) - y(acc + c)), class: `bar lvl-${lvl}`, 'data-level': lvl });
        const title = el('title');
        title.textContent = `${lvl}: ${c} at ${formatTime(d.first + i * d.stepMs, state.tz, false)}`;
        r.appendChild(title);
        g.appendChild(r);
        acc += c;
      }
    }
    svg.appendChild(g);
    for (const lvl of d.order) {
      const n = d.levels.get(lvl).counts.reduce((a, b) => a + b, 0);
      const b = document.createElement('button');
      b.type = 'button';
      b.className = `level-btn lvl-${lvl}`;
      b.dataset.level = lvl;
      b.innerHTML = '<span class="swatch" aria-hidden="true"></span>';
      b.append(`${lvl} ${n.toLocaleString()}`);
      b.title = `Show only ${lvl} lines`;
      b.setAttribute('aria-label', `Filter to level ${lvl} (${n} lines)`);
      b.addEventListener('click', () => this.onFilter(this.filterFor(lvl)));
      this.legend.appendChild(b);
    }
    this.dragging(svg, x, plotW, d);
  }

  dragging(svg, x, plotW, d) {
    let x0 = null;
    let sel = null;
    const toMs = (px) => d.start + ((Math.min(Math.max(px, PAD.left), PAD.left + plotW) - PAD.left) / plotW) * (d.end - d.start);
    const localX = (e) => e.clientX - svg.getBoundingClientRect().left;
    svg.addEventListener('pointerdown', (e) => {
      x0 = localX(e);
      svg.setPointerCapture(e.pointerId);
      sel = el('rect', { x: x0, y: PAD.top, width: 0, height: HEIGHT - PAD.top - PAD.bottom, class: 'selection' });
      svg.appendChild(sel);
    });
    svg.addEventListener('pointermove', (e) => {
      if (x0 === null) return;
      const x1 = localX(e);
      sel.setAttribute('x', String(Math.min(x0, x1)));
      sel.setAttribute('width', String(Math.abs(x1 - x0)));
    });
    svg.addEventListener('pointerup', (e) => {
      if (x0 === null) return;
      const x1 = localX(e);
      const a = x0;
      x0 = null;
      sel.remove();
      if (Math.abs(x1 - a) < 4) return;
      const s = toMs(Math.min(a, x1));
      const t = toMs(Math.max(a, x1));
      if (t - s >= 1000) this.onZoom(s, t);
    });
  }
}
