// The History panel: the tenant's history indexes (`GET /logq/api/v1/history`) with state,
// progress, range, size and expiry; "Load history" asks for the selected range
// (`POST /logq/api/v1/history`); drop buttons (`DELETE .../{id}`). Polls fast while an index
// builds. A server without the history API (404) shows "unavailable"; the page goes on working.

import { ApiError, request } from './api.js';
import { anyTimeToMs, escapeHtml, formatBytes, formatTime, msToNs } from './format.js';
import { selectorOf } from './logql.js';
import { currentRange, state } from './state.js';

const BASE = '/logq/api/v1/history';

function listOf(body) {
  if (Array.isArray(body)) return body;
  if (body && typeof body === 'object') {
    for (const k of ['indexes', 'data', 'items', 'history']) if (Array.isArray(body[k])) return body[k];
  }
  return [];
}

/** The panel in `#history`. */
export class HistoryPanel {
  constructor({ toast }) {
    this.toast = toast;
    this.button = document.getElementById('history-load');
    this.statusEl = document.getElementById('history-status');
    this.listEl = document.getElementById('history-list');
    this.available = null;
    this.timer = null;
    this.button.addEventListener('click', () => this.load());
    this.listEl.addEventListener('click', (e) => {
      const b = e.target.closest('[data-drop]');
      if (b) this.drop(b.dataset.drop);
    });
  }

  /** Lists again now (tenant changed, say), then keeps polling. */
  async refresh() {
    clearTimeout(this.timer);
    let indexes = [];
    try {
      const { body } = await request('GET', BASE);
      indexes = listOf(body);
      this.setAvailable(true);
      this.render(indexes);
    } catch (e) {
      if (e instanceof ApiError && (e.status === 404 || e.status === 405 || e.status === 501)) {
        this.setAvailable(false, 'History indexes are unavailable on this server.');
      } else if (e instanceof ApiError && e.status === 503) {
        // The API exists but the server runs without history indexes.
        this.setAvailable(false, `History indexes are unavailable: ${e.message}.`);
      } else {
        this.statusEl.textContent = `History list failed: ${e.message}`;
      }
    }
    const busy = indexes.some((i) => i.state === 'queued' || i.state === 'building');
    if (this.available !== false || busy) this.timer = setTimeout(() => this.refresh(), busy ? 700 : 10000);
  }

  setAvailable(ok, why) {
    this.available = ok;
    this.button.disabled = !ok;
    this.button.title = ok ? 'Build a temporary full-text index over the selected range' : why;
    if (!ok) {
      this.statusEl.textContent = `${why} Search still works by scanning.`;
      this.listEl.textContent = '';
      document.getElementById('history').dataset.state = 'unavailable';
    } else {
      document.getElementById('history').dataset.state = 'available';
      if (this.statusEl.textContent.includes('unavailable')) this.statusEl.textContent = '';
    }
  }

  async load() {
    const { start, end } = currentRange();
    const params = { start: msToNs(start), end: msToNs(end) };
    const sel = selectorOf(state.query);
    if (sel !== '{}') params.query = sel;
    this.button.disabled = true;
    try {
      const { body } = await request('POST', BASE, params);
      this.statusEl.textContent = `Loading ${formatTime(start, state.tz, false)} – ${formatTime(end, state.tz, false)}${body && body.id ? ` (index ${body.id})` : ''}`;
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) this.setAvailable(false, 'History indexes are unavailable on this server.');
      else this.statusEl.textContent = `Load failed: ${e.message}`;
    } finally {
      this.button.disabled = this.available === false;
    }
    this.refresh();
  }

  async drop(id) {
    try {
      await request('DELETE', `${BASE}/${encodeURIComponent(id)}`);
      this.toast(`History index ${id} dropped`);
    } catch (e) {
      this.statusEl.textContent = `Drop failed: ${e.message}`;
    }
    this.refresh();
  }

  render(indexes) {
    this.listEl.textContent = '';
    if (indexes.length === 0) {
      this.listEl.innerHTML = '<li class="muted small">No history indexes for this tenant.</li>';
      return;
    }
    for (const ix of indexes) {
      const li = document.createElement('li');
      li.className = `hist state-${escapeHtml(ix.state || 'unknown')}`;
      li.dataset.id = ix.id;
      const progress = Math.max(0, Math.min(1, Number(ix.progress) || 0));
      const t = (v) => {
        const ms = anyTimeToMs(v);
        return Number.isFinite(ms) ? formatTime(ms, state.tz, false) : '—';
      };
      li.innerHTML = `<div class="hist-head"><span class="state">${escapeHtml(ix.state || '?')}</span>`
        + `<code title="index id">${escapeHtml(ix.id)}</code>`
        + `<button type="button" class="mini" data-drop="${escapeHtml(ix.id)}" aria-label="Drop history index ${escapeHtml(ix.id)}">Drop</button></div>`
        + `<progress max="1" value="${progress}" aria-label="Progress of index ${escapeHtml(ix.id)}">${Math.round(progress * 100)}%</progress>`
        + `<span class="small">${Math.round(progress * 100)}%</span>`
        + `<div class="small">${t(ix.start)} – ${t(ix.end)}${ix.query ? ` <code>${escapeHtml(ix.query)}</code>` : ''}</div>`
        + `<div class="small muted">${ix.lines !== undefined ? `${Number(ix.lines).toLocaleString()} lines, ` : ''}${formatBytes(ix.bytes_on_disk)} on disk${ix.bytes_raw !== undefined ? ` (${formatBytes(ix.bytes_raw)} raw)` : ''}; expires ${t(ix.expires_at)}</div>`
        + (ix.error ? `<div class="small error">${escapeHtml(ix.error)}</div>` : '');
      this.listEl.appendChild(li);
    }
  }
}
