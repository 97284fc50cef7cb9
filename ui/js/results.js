// The result list: a virtualised list (only the rows in view, plus a margin, exist in the DOM),
// so 5,000+ lines scroll smoothly. Rows have one fixed height, an expanded row its measured
// height; offsets are a prefix sum recomputed when an expansion changes. Each row shows the
// time, a level colour, the compact stream labels (click: add to the selector), the line, and
// actions (copy, context); expanding shows labels, structured metadata and parsed fields.

import { escapeHtml, formatTime, labelsKey } from './format.js';
import { parseLine } from './fields.js';
import { state } from './state.js';

const ROW_H = 22;
const OVERSCAN = 12;

let nextId = 1;

let template = null;
function rowTemplate() {
  if (!template) {
    template = document.createElement('div');
    template.setAttribute('role', 'listitem');
    template.tabIndex = -1;
    template.innerHTML = '<div class="row-main">'
      + '<button type="button" class="exp" data-action="expand"></button>'
      + '<span class="lvlbar"><span class="sr"></span></span>'
      + '<time></time><span class="labels"></span><span class="line"></span>'
      + '<span class="actions"><button type="button" data-action="copy" title="Copy line">Copy</button>'
      + '<button type="button" data-action="context" title="Lines before and after in the same stream">Context</button></span>'
      + '</div>';
  }
  return template;
}

/**
 * An entry of the list from a Loki stream value: `[ts, line, {structuredMetadata, parsed}?]`.
 * `level` is computed by the caller (fields.js).
 */
export function makeEntry(labels, value, level) {
  const [ts, line, extra] = value;
  return {
    id: nextId++,
    ts,
    ms: Number(BigInt(ts) / 1000000n),
    labels,
    line,
    meta: (extra && extra.structuredMetadata) || {},
    parsed: (extra && extra.parsed) || {},
    level,
    key: `${labelsKey(labels)}\u0000${ts}\u0000${line}`,
  };
}

/** The virtualised list in `#results`. */
export class ResultsList {
  /**
   * @param {object} o
   * @param {(name: string, value: string) => void} o.onAddLabel
   * @param {(entry: object) => void} o.onContext
   * @param {(text: string) => void} o.toast
   */
  constructor({ onAddLabel, onContext, toast }) {
    this.el = document.getElementById('results');
    this.spacer = document.getElementById('results-spacer');
    this.onAddLabel = onAddLabel;
    this.onContext = onContext;
    this.toast = toast;
    this.entries = [];
    this.keys = new Set();
    this.expanded = new Map(); // entry id -> measured height
    this.offsets = null; // prefix sums when any row is expanded
    this.rows = new Map(); // index -> element
    this.focusIdx = -1;
    this.pending = false;
    this.el.addEventListener('scroll', () => this.schedule());
    new ResizeObserver(() => this.schedule()).observe(this.el);
    this.el.addEventListener('click', (e) => this.onClick(e));
    this.el.addEventListener('keydown', (e) => this.onKey(e));
  }

  /** Replaces the entries (scrolls to the top). */
  setEntries(entries) {
    this.entries = entries;
    this.keys = new Set(entries.map((e) => e.key));
    this.expanded.clear();
    this.focusIdx = -1;
    this.el.scrollTop = 0;
    this.relayout(true);
  }

  /** Adds entries at the end, skipping ones already shown; answers how many were added. */
  append(entries) {
    const fresh = entries.filter((e) => !this.keys.has(e.key));
    for (const e of fresh) this.keys.add(e.key);
    this.entries = this.entries.concat(fresh);
    this.relayout(false);
    return fresh.length;
  }

  /** Adds entries at the top (live mode, newest first), keeping at most `cap`. */
  prepend(entries, cap) {
    const fresh = entries.filter((e) => !this.keys.has(e.key));
    for (const e of fresh) this.keys.add(e.key);
    let all = fresh.concat(this.entries);
    if (all.length > cap) {
      for (const e of all.slice(cap)) { this.keys.delete(e.key); this.expanded.delete(e.id); }
      all = all.slice(0, cap);
    }
    // Keep what the reader looks at in place when they scrolled down.
    const shift = this.el.scrollTop > 0 ? fresh.length * ROW_H : 0;
    this.entries = all;
    if (this.focusIdx >= 0) this.focusIdx += fresh.length;
    this.relayout(true);
    if (shift) this.el.scrollTop += shift;
    return fresh.length;
  }

  /** The last entry (where "load older" continues from). */
  last() { return this.entries[this.entries.length - 1]; }

  relayout(clearRows) {
    if (this.expanded.size === 0) {
      this.offsets = null;
    } else {
      const o = new Float64Array(this.entries.length + 1);
      for (let i = 0; i < this.entries.length; i += 1) o[i + 1] = o[i] + (this.expanded.get(this.entries[i].id) || ROW_H);
      this.offsets = o;
    }
    this.spacer.style.height = `${this.top(this.entries.length)}px`;
    if (clearRows) {
      for (const r of this.rows.values()) r.remove();
      this.rows.clear();
    }
    this.render();
  }

  top(i) { return this.offsets ? this.offsets[i] : i * ROW_H; }

  indexAt(y) {
    if (!this.offsets) return Math.min(this.entries.length - 1, Math.max(0, Math.floor(y / ROW_H)));
    let lo = 0;
    let hi = this.entries.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.offsets[mid] <= y) lo = mid; else hi = mid - 1;
    }
    return lo;
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.render(); });
  }

  render() {
    const n = this.entries.length;
    const first = Math.max(0, this.indexAt(this.el.scrollTop) - OVERSCAN);
    const last = Math.min(n - 1, this.indexAt(this.el.scrollTop + this.el.clientHeight) + OVERSCAN);
    for (const [i, row] of this.rows) {
      if ((i < first || i > last) && i !== this.focusIdx) { row.remove(); this.rows.delete(i); }
    }
    const add = (i) => {
      let row = this.rows.get(i);
      if (!row) {
        row = this.makeRow(i);
        this.rows.set(i, row);
        this.spacer.appendChild(row);
      }
      row.style.transform = `translateY(${this.top(i)}px)`;
    };
    for (let i = first; i <= last && n > 0; i += 1) add(i);
    if (this.focusIdx >= 0 && this.focusIdx < n) add(this.focusIdx);
  }

  makeRow(i) {
    const e = this.entries[i];
    // Built from a cloned template and text nodes (no HTML parsing): rows are made while
    // scrolling, many per frame.
    const row = rowTemplate().cloneNode(true);
    row.setAttribute('aria-posinset', String(i + 1));
    row.setAttribute('aria-setsize', String(this.entries.length));
    row.className = `row lvl-${e.level}`;
    row.dataset.i = String(i);
    const open = this.expanded.has(e.id);
    const [exp, lvl, time, labels, line] = row.firstChild.children;
    exp.setAttribute('aria-expanded', String(open));
    exp.setAttribute('aria-label', open ? 'Hide details' : 'Show details');
    exp.textContent = open ? '▾' : '▸';
    lvl.title = e.level;
    lvl.firstChild.textContent = e.level;
    time.dateTime = new Date(e.ms).toISOString();
    time.textContent = formatTime(e.ms, state.tz);
    for (const k of Object.keys(e.labels).sort()) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'lbl';
      b.dataset.action = 'label';
      b.dataset.k = k;
      b.title = `Add ${k}="${e.labels[k]}" to the query`;
      b.textContent = `${k}=${e.labels[k]}`;
      labels.appendChild(b);
    }
    line.textContent = e.line;
    if (open) {
      row.classList.add('open');
      row.appendChild(this.details(e));
    }
    return row;
  }

  details(e) {
    const d = document.createElement('div');
    d.className = 'details';
    const table = (caption, pairs, filter) => {
      if (pairs.length === 0) return '';
      return `<table class="kv"><caption>${escapeHtml(caption)}</caption><tbody>${pairs.map(([k, v]) => `<tr><th scope="row">${escapeHtml(k)}</th><td>${escapeHtml(v)}</td>${filter ? `<td><button type="button" class="mini" data-action="label" data-k="${escapeHtml(k)}" title="Add to the selector">+</button></td>` : ''}</tr>`).join('')}</tbody></table>`;
    };
    const parsed = parseLine(e.line);
    const serverParsed = Object.entries(e.parsed);
    let fields = serverParsed;
    let format = 'from the query';
    if (serverParsed.length === 0 && parsed) { fields = parsed.fields; format = parsed.format; }
    d.innerHTML = `<pre class="full-line">${escapeHtml(e.line)}</pre>`
      + `<div class="tables">`
      + table('Labels', Object.entries(e.labels), true)
      + table('Structured metadata', Object.entries(e.meta), false)
      + table(`Parsed fields (${format})`, fields, false)
      + `</div>`;
    if (fields.length === 0 && Object.keys(e.meta).length === 0) {
      d.insertAdjacentHTML('beforeend', '<p class="muted small">No structured metadata; the line is neither JSON nor logfmt.</p>');
    }
    return d;
  }

  toggle(i) {
    const e = this.entries[i];
    if (!e) return;
    if (this.expanded.has(e.id)) {
      this.expanded.delete(e.id);
      this.relayout(true);
    } else {
      this.expanded.set(e.id, ROW_H);
      const row = this.makeRow(i);
      row.style.visibility = 'hidden';
      this.spacer.appendChild(row);
      this.expanded.set(e.id, Math.max(ROW_H, row.offsetHeight));
      row.remove();
      this.relayout(true);
    }
    const row = this.rows.get(i);
    if (row && this.focusIdx === i) row.focus({ preventScroll: true });
  }

  onClick(ev) {
    const btn = ev.target.closest('[data-action]');
    const row = ev.target.closest('.row');
    if (!row) return;
    const i = Number(row.dataset.i);
    const e = this.entries[i];
    this.focusIdx = i;
    if (!btn) return;
    const action = btn.dataset.action;
    if (action === 'expand') this.toggle(i);
    else if (action === 'label') this.onAddLabel(btn.dataset.k, e.labels[btn.dataset.k]);
    else if (action === 'copy') this.copy(e);
    else if (action === 'context') this.onContext(e);
  }

  async copy(e) {
    try {
      await navigator.clipboard.writeText(e.line);
    } catch (err) {
      const ta = document.createElement('textarea');
      ta.value = e.line;
      document.body.appendChild(ta);
      ta.select();
      document.execCommand('copy');
      ta.remove();
    }
    this.toast('Line copied');
  }

  /** Arrow keys, Page Up/Down, Home/End move between rows; Enter expands; c copies. */
  onKey(ev) {
    if (ev.target.closest('button') && (ev.key === 'Enter' || ev.key === ' ')) return;
    const n = this.entries.length;
    if (n === 0) return;
    const page = Math.max(1, Math.floor(this.el.clientHeight / ROW_H) - 1);
    const moves = { ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page, Home: -n, End: n };
    if (ev.key in moves) {
      ev.preventDefault();
      const from = this.focusIdx < 0 ? (moves[ev.key] > 0 ? -1 : 0) : this.focusIdx;
      this.focus(Math.min(n - 1, Math.max(0, from + moves[ev.key])));
    } else if ((ev.key === 'Enter' || ev.key === ' ') && this.focusIdx >= 0) {
      ev.preventDefault();
      this.toggle(this.focusIdx);
    } else if (ev.key === 'c' && this.focusIdx >= 0 && !ev.ctrlKey && !ev.metaKey) {
      this.copy(this.entries[this.focusIdx]);
    }
  }

  focus(i) {
    this.focusIdx = i;
    const top = this.top(i);
    const h = this.top(i + 1) - top;
    if (top < this.el.scrollTop) this.el.scrollTop = top;
    else if (top + h > this.el.scrollTop + this.el.clientHeight) this.el.scrollTop = top + h - this.el.clientHeight;
    this.render();
    const row = this.rows.get(i);
    if (row) row.focus({ preventScroll: true });
  }
}
