// The LogQL editor: a textarea under a highlighted copy of its text (same font and box, so
// the colours line up), growing with its lines; a suggestion list (label names, label values,
// pipeline stages, functions and keywords) driven by the keyboard; and the server's parse error
// shown at its line and column.

import { FUNCTIONS, KEYWORDS, STAGES, completionContext, highlight, offsetOf, parseErrorPosition } from './logql.js';

const MAX_SUGGESTIONS = 50;

/** The editor over `#query`, `#editor-hl`, `#completions` and `#query-error`. */
export class Editor {
  /**
   * @param {object} o
   * @param {() => void} o.onRun called on Enter / Ctrl+Enter
   * @param {() => Promise<string[]>} o.labelNames
   * @param {(name: string) => Promise<string[]>} o.labelValues
   */
  constructor({ onRun, labelNames, labelValues }) {
    this.ta = document.getElementById('query');
    this.hl = document.getElementById('editor-hl');
    this.list = document.getElementById('completions');
    this.errorEl = document.getElementById('query-error');
    this.onRun = onRun;
    this.labelNames = labelNames;
    this.labelValues = labelValues;
    this.errorOffset = -1;
    this.items = [];
    this.active = 0;
    this.ctx = null;
    this.seq = 0;
    this.ta.addEventListener('input', () => {
      this.clearError();
      this.render();
      this.suggest(false);
    });
    this.ta.addEventListener('scroll', () => { this.hl.scrollTop = this.ta.scrollTop; this.hl.scrollLeft = this.ta.scrollLeft; });
    this.ta.addEventListener('keydown', (e) => this.onKey(e));
    this.ta.addEventListener('blur', () => setTimeout(() => this.close(), 150));
    this.list.addEventListener('mousedown', (e) => {
      const li = e.target.closest('[role=option]');
      if (!li) return;
      e.preventDefault();
      this.accept(Number(li.dataset.i));
    });
  }

  /** The query text. */
  get value() { return this.ta.value; }

  set value(v) {
    this.ta.value = v;
    this.clearError();
    this.render();
  }

  focus() { this.ta.focus(); }

  render() {
    this.hl.innerHTML = highlight(this.ta.value, this.errorOffset);
    this.ta.rows = Math.min(12, Math.max(1, this.ta.value.split('\n').length));
  }

  /** Shows a server error; a parse error is marked at its line and column. */
  setError(message) {
    const pos = parseErrorPosition(message);
    this.errorEl.hidden = false;
    this.ta.setAttribute('aria-invalid', 'true');
    if (pos) {
      this.errorOffset = offsetOf(this.ta.value, pos.line, pos.col);
      this.errorEl.textContent = `Parse error at line ${pos.line}, column ${pos.col}: ${pos.message}`;
      this.errorEl.dataset.line = String(pos.line);
      this.errorEl.dataset.col = String(pos.col);
    } else {
      this.errorOffset = -1;
      this.errorEl.textContent = message;
      delete this.errorEl.dataset.line;
      delete this.errorEl.dataset.col;
    }
    this.render();
  }

  clearError() {
    if (this.errorEl.hidden && this.errorOffset < 0) return;
    this.errorOffset = -1;
    this.errorEl.hidden = true;
    this.errorEl.textContent = '';
    this.ta.removeAttribute('aria-invalid');
    this.render();
  }

  onKey(e) {
    const open = !this.list.hidden;
    if (open && (e.key === 'ArrowDown' || e.key === 'ArrowUp')) {
      e.preventDefault();
      this.move(e.key === 'ArrowDown' ? 1 : -1);
    } else if (open && (e.key === 'Tab' || (e.key === 'Enter' && !e.ctrlKey && !e.metaKey && !e.shiftKey))) {
      e.preventDefault();
      this.accept(this.active);
    } else if (open && e.key === 'Escape') {
      e.preventDefault();
      this.close();
    } else if (e.key === ' ' && e.ctrlKey) {
      e.preventDefault();
      this.suggest(true);
    } else if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      this.close();
      this.onRun();
    }
  }

  async suggest(explicit) {
    const seq = ++this.seq;
    const ctx = completionContext(this.ta.value, this.ta.selectionStart);
    if (!ctx || (!explicit && ctx.kind !== 'value' && ctx.kind !== 'label' && ctx.kind !== 'stage' && ctx.prefix.length < 2)) {
      this.close();
      return;
    }
    let words;
    try {
      if (ctx.kind === 'label') words = await this.labelNames();
      else if (ctx.kind === 'value') words = await this.labelValues(ctx.label);
      else if (ctx.kind === 'stage') words = STAGES;
      else words = [...FUNCTIONS, ...KEYWORDS];
    } catch (err) {
      words = [];
    }
    if (seq !== this.seq) return;
    const pre = ctx.prefix.toLowerCase();
    const starts = words.filter((w) => w.toLowerCase().startsWith(pre));
    const contains = words.filter((w) => !w.toLowerCase().startsWith(pre) && w.toLowerCase().includes(pre));
    this.items = [...starts, ...contains].filter((w) => w !== ctx.prefix || ctx.kind === 'value').slice(0, MAX_SUGGESTIONS);
    this.ctx = ctx;
    if (this.items.length === 0) {
      this.close();
      return;
    }
    this.active = 0;
    this.list.innerHTML = '';
    this.items.forEach((w, i) => {
      const li = document.createElement('li');
      li.id = `completion-${i}`;
      li.setAttribute('role', 'option');
      li.dataset.i = String(i);
      li.textContent = w;
      const kind = document.createElement('span');
      kind.className = 'kind';
      kind.textContent = ctx.kind === 'top' ? (FUNCTIONS.includes(w) ? 'function' : 'keyword') : ctx.kind;
      li.appendChild(kind);
      this.list.appendChild(li);
    });
    this.list.hidden = false;
    this.ta.setAttribute('aria-expanded', 'true');
    this.move(0);
  }

  move(delta) {
    const n = this.items.length;
    this.active = (this.active + delta + n) % n;
    for (const li of this.list.children) li.setAttribute('aria-selected', String(Number(li.dataset.i) === this.active));
    const li = this.list.children[this.active];
    this.ta.setAttribute('aria-activedescendant', li.id);
    li.scrollIntoView({ block: 'nearest' });
  }

  accept(i) {
    const w = this.items[i];
    const ctx = this.ctx;
    if (w === undefined || !ctx) return;
    let insert = w;
    if (ctx.kind === 'value') insert = `"${w.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
    else if (ctx.kind === 'top' && FUNCTIONS.includes(w)) insert = `${w}(`;
    const v = this.ta.value;
    // A value being typed inside quotes: replace through the closing quote if one follows.
    let to = ctx.to;
    if (ctx.kind === 'value' && v[to] === '"') to += 1;
    this.ta.value = v.slice(0, ctx.from) + insert + v.slice(to);
    const caret = ctx.from + insert.length;
    this.ta.setSelectionRange(caret, caret);
    this.close();
    this.render();
    this.ta.focus();
  }

  close() {
    this.seq += 1;
    this.list.hidden = true;
    this.ta.setAttribute('aria-expanded', 'false');
    this.ta.removeAttribute('aria-activedescendant');
  }
}
