// The label browser: label names with their cardinality over the range
// (`/loki/api/v1/detected_labels`, else `/labels` + values), a name's values with line counts
// (an instant `sum by (name) (count_over_time(...))`), and a selector built by clicking values
// (several values of one name become `name=~"a|b"`).

import { get } from './api.js';
import { escapeHtml, escapeValue, msToNs } from './format.js';
import { currentRange } from './state.js';

function regexEscape(v) {
  return v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The selector text of `{name: Set(values)}`. */
export function buildSelector(picked) {
  const parts = [];
  for (const name of Object.keys(picked).sort()) {
    const vals = [...picked[name]];
    if (vals.length === 1) parts.push(`${name}="${escapeValue(vals[0])}"`);
    else if (vals.length > 1) parts.push(`${name}=~"${escapeValue(vals.map(regexEscape).join('|'))}"`);
  }
  return `{${parts.join(', ')}}`;
}

/** The browser in `#labels`. */
export class LabelBrowser {
  constructor({ onApply }) {
    this.body = document.getElementById('labels-body');
    this.built = document.getElementById('built-selector');
    this.applyBtn = document.getElementById('apply-selector');
    this.clearBtn = document.getElementById('clear-selector');
    this.picked = {};
    this.names = [];
    this.open = null;
    this.applyBtn.addEventListener('click', () => onApply(buildSelector(this.picked)));
    this.clearBtn.addEventListener('click', () => { this.picked = {}; this.renderNames(); this.renderBuilt(); });
    this.body.addEventListener('click', (e) => this.onClick(e));
  }

  /** Label names of the range, cached for the editor's suggestions. */
  labelNames() { return this.names.map((n) => n.label); }

  async refresh() {
    const { start, end } = currentRange();
    const range = { start: msToNs(start), end: msToNs(end) };
    try {
      const body = await get('/loki/api/v1/detected_labels', range);
      this.names = (body.detectedLabels || []).map((d) => ({ label: d.label, cardinality: d.cardinality }));
    } catch (e) {
      try {
        const body = await get('/loki/api/v1/labels', range);
        this.names = (body.data || []).filter((n) => !n.startsWith('__')).map((label) => ({ label, cardinality: null }));
      } catch (e2) {
        this.names = [];
        this.body.innerHTML = `<p class="small error">${escapeHtml(e2.message)}</p>`;
        return;
      }
    }
    this.names.sort((a, b) => a.label.localeCompare(b.label));
    this.open = null;
    this.renderNames();
  }

  renderNames() {
    if (this.names.length === 0) {
      this.body.innerHTML = '<p class="muted small">No labels in this range.</p>';
      return;
    }
    this.body.innerHTML = `<ul class="label-names">${this.names.map((n) => {
      const picked = this.picked[n.label] ? this.picked[n.label].size : 0;
      return `<li><button type="button" class="label-name" data-name="${escapeHtml(n.label)}" aria-expanded="${this.open === n.label}">`
        + `<span>${escapeHtml(n.label)}</span>${n.cardinality !== null ? `<span class="count" title="distinct values">${n.cardinality}</span>` : ''}`
        + `${picked ? `<span class="picked">${picked} picked</span>` : ''}</button>`
        + `${this.open === n.label ? '<div class="values" role="group" aria-label="Values of ' + escapeHtml(n.label) + '">loading…</div>' : ''}</li>`;
    }).join('')}</ul>`;
    if (this.open) this.loadValues(this.open);
  }

  async loadValues(name) {
    const { start, end } = currentRange();
    const secs = Math.max(1, Math.ceil((end - start) / 1000));
    const box = this.body.querySelector('.values');
    let rows;
    try {
      const body = await get('/loki/api/v1/query', {
        query: `sum by (${name}) (count_over_time({${name}=~".+"}[${secs}s]))`,
        time: msToNs(end),
      });
      rows = body.data.result.map((r) => [r.metric[name], Number(r.value[1])]).filter(([v]) => v !== undefined);
      rows.sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    } catch (e) {
      try {
        const body = await get(`/loki/api/v1/label/${encodeURIComponent(name)}/values`, { start: msToNs(start), end: msToNs(end) });
        rows = (body.data || []).map((v) => [v, null]);
      } catch (e2) {
        if (box) box.innerHTML = `<p class="small error">${escapeHtml(e2.message)}</p>`;
        return;
      }
    }
    if (this.open !== name || !box.isConnected) return;
    const picked = this.picked[name] || new Set();
    box.innerHTML = rows.length === 0 ? '<p class="muted small">No values.</p>' : rows.map(([v, c]) => `<button type="button" class="value" data-name="${escapeHtml(name)}" data-value="${escapeHtml(v)}" aria-pressed="${picked.has(v)}">`
      + `<span>${escapeHtml(v)}</span>${c !== null ? `<span class="count" title="lines in the range">${c.toLocaleString()}</span>` : ''}</button>`).join('');
  }

  onClick(e) {
    const nameBtn = e.target.closest('.label-name');
    if (nameBtn) {
      const n = nameBtn.dataset.name;
      this.open = this.open === n ? null : n;
      this.renderNames();
      return;
    }
    const v = e.target.closest('.value');
    if (v) {
      const { name, value } = v.dataset;
      const set = this.picked[name] || (this.picked[name] = new Set());
      if (set.has(value)) set.delete(value); else set.add(value);
      if (set.size === 0) delete this.picked[name];
      v.setAttribute('aria-pressed', String(set.has(value)));
      const head = this.body.querySelector(`.label-name[data-name="${CSS.escape(name)}"]`);
      if (head) {
        let p = head.querySelector('.picked');
        if (!p && set.size) { p = document.createElement('span'); p.className = 'picked'; head.appendChild(p); }
        if (p) { if (set.size) p.textContent = `${set.size} picked`; else p.remove(); }
      }
      this.renderBuilt();
    }
  }

  renderBuilt() {
    const sel = buildSelector(this.picked);
    this.built.textContent = sel;
    const any = sel !== '{}';
    this.applyBtn.disabled = !any;
    this.clearBtn.disabled = !any;
  }
}
