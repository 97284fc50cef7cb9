// Live mode: the tail WebSocket (`/loki/api/v1/tail`) for the current query. New lines go to
// the list newest first; while paused they wait in a buffer that resume shows (nothing is lost
// up to the cap). A counter shows lines per second and the lines the server dropped; a closed
// socket reconnects with backoff, from the newest timestamp seen (so nothing repeats or is
// skipped).

import { wsUrl } from './api.js';
import { msToNs } from './format.js';

/** Lines kept in the list (and in the paused buffer) at most; older ones are trimmed. */
export const LIVE_CAP = 10000;

/** One live session; `stop()` ends it for good. */
export class LiveTail {
  /**
   * @param {object} o
   * @param {string} o.query
   * @param {number} o.limit
   * @param {(streams: object[]) => void} o.onLines Loki stream objects, when not paused
   * @param {(s: object) => void} o.onStats `{state, rate, received, dropped, buffered, paused}`
   */
  constructor({ query, limit, onLines, onStats }) {
    this.query = query;
    this.limit = limit;
    this.onLines = onLines;
    this.onStats = onStats;
    this.paused = false;
    this.buffer = [];
    this.bufferedLines = 0;
    this.received = 0;
    this.dropped = 0;
    this.trimmed = 0;
    this.rate = 0;
    this.windowCount = 0;
    this.lastTs = null; // newest ns timestamp seen, as a BigInt
    this.since = msToNs(Date.now());
    this.state = 'connecting';
    this.error = '';
    this.stopped = false;
    this.attempt = 0;
    this.ticker = setInterval(() => this.tick(), 1000);
    this.tickAt = performance.now();
    this.connect();
  }

  connect() {
    if (this.stopped) return;
    // A reconnect continues after the newest line seen, or from when Live was turned on: lines
    // that arrived while the socket was down are not lost.
    const start = this.lastTs !== null ? (this.lastTs + 1n).toString() : this.since;
    this.state = this.attempt > 0 ? 'reconnecting' : 'connecting';
    this.report();
    const ws = new WebSocket(wsUrl('/loki/api/v1/tail', { query: this.query, limit: String(this.limit), start }));
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.state = 'streaming';
      this.error = '';
      this.report();
    };
    ws.onmessage = (m) => this.onMessage(m.data);
    ws.onclose = (ev) => {
      if (this.ws !== ws || this.stopped) return;
      this.error = ev.reason || (ev.code === 1006 ? 'connection lost' : `closed (${ev.code})`);
      this.attempt += 1;
      this.state = 'reconnecting';
      this.report();
      const delay = Math.min(10000, 500 * 2 ** Math.min(this.attempt - 1, 5));
      this.retry = setTimeout(() => this.connect(), delay);
    };
  }

  onMessage(data) {
    let msg;
    try { msg = JSON.parse(data); } catch (e) { return; }
    const streams = msg.streams || [];
    let n = 0;
    for (const s of streams) {
      for (const v of s.values) {
        const ts = BigInt(v[0]);
        if (this.lastTs === null || ts > this.lastTs) this.lastTs = ts;
        n += 1;
      }
    }
    this.received += n;
    this.windowCount += n;
    this.dropped += (msg.dropped_entries || []).length;
    if (n > 0) {
      if (this.paused) {
        this.buffer.push(streams);
        this.bufferedLines += n;
        while (this.bufferedLines > LIVE_CAP && this.buffer.length > 1) {
          const old = this.buffer.shift();
          const k = old.reduce((a, s) => a + s.values.length, 0);
          this.bufferedLines -= k;
          this.trimmed += k;
        }
      } else {
        this.onLines(streams);
      }
    }
    this.report();
  }

  tick() {
    const now = performance.now();
    this.rate = this.windowCount / ((now - this.tickAt) / 1000);
    this.windowCount = 0;
    this.tickAt = now;
    this.report();
  }

  /** Pauses (lines keep arriving into the buffer) or resumes (the buffer is shown). */
  setPaused(p) {
    this.paused = p;
    if (!p && this.buffer.length) {
      const all = this.buffer.flat();
      this.buffer = [];
      this.bufferedLines = 0;
      this.onLines(all);
    }
    this.report();
  }

  report() {
    this.onStats({
      state: this.state,
      error: this.error,
      rate: this.rate,
      received: this.received,
      dropped: this.dropped,
      trimmed: this.trimmed,
      buffered: this.bufferedLines,
      paused: this.paused,
    });
  }

  stop() {
    this.stopped = true;
    clearInterval(this.ticker);
    clearTimeout(this.retry);
    if (this.ws) this.ws.close();
  }
}
