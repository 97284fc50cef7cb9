// Formatting helpers shared by the UI modules: times (browser zone or UTC), sizes, levels and
// label sets. Pure functions, no DOM.

/** Milliseconds since the epoch of a Loki nanosecond timestamp string. */
export function nsToMs(ns) {
  return Number(BigInt(ns) / 1000000n);
}

/** Nanosecond string of a millisecond time. */
export function msToNs(ms) {
  return (BigInt(Math.round(ms)) * 1000000n).toString();
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** `YYYY-MM-DD HH:MM:SS.mmm` in the chosen zone ('utc' or 'local'). */
export function formatTime(ms, tz, withMs = true) {
  const d = new Date(ms);
  const u = tz === 'utc';
  const s = `${d[u ? 'getUTCFullYear' : 'getFullYear']()}-${pad(d[u ? 'getUTCMonth' : 'getMonth']() + 1)}-${pad(d[u ? 'getUTCDate' : 'getDate']())} `
    + `${pad(d[u ? 'getUTCHours' : 'getHours']())}:${pad(d[u ? 'getUTCMinutes' : 'getMinutes']())}:${pad(d[u ? 'getUTCSeconds' : 'getSeconds']())}`;
  return withMs ? `${s}.${pad(d[u ? 'getUTCMilliseconds' : 'getMilliseconds'](), 3)}` : s;
}

/** The value of a `datetime-local` input for `ms` in the chosen zone. */
export function toInputValue(ms, tz) {
  return formatTime(ms, tz, false).replace(' ', 'T');
}

/** Milliseconds of a `datetime-local` input value read in the chosen zone (NaN if invalid). */
export function fromInputValue(v, tz) {
  if (!v) return NaN;
  const full = v.length === 16 ? `${v}:00` : v;
  return tz === 'utc' ? Date.parse(`${full}Z`) : new Date(full).getTime();
}

/** A byte count for people: 1.2 MB. */
export function formatBytes(n) {
  const v = Number(n);
  if (!Number.isFinite(v)) return '?';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let x = v;
  while (x >= 1000 && i < units.length - 1) { x /= 1000; i += 1; }
  return `${i === 0 ? x : x.toFixed(1)} ${units[i]}`;
}

/** Milliseconds of a time given as RFC 3339, or as a number in s, ms or ns since the epoch. */
export function anyTimeToMs(v) {
  if (v === null || v === undefined || v === '') return NaN;
  if (typeof v === 'number' || /^\d+(\.\d+)?$/.test(String(v))) {
    const n = Number(v);
    if (n > 1e17) return n / 1e6;
    if (n > 1e14) return n / 1e3;
    if (n > 1e11) return n;
    return n * 1000;
  }
  return Date.parse(String(v));
}

const LEVELS = {
  critical: ['critical', 'crit', 'fatal', 'panic', 'emerg', 'emergency', 'alert'],
  error: ['error', 'err', 'eror', 'e', 'severe'],
  warn: ['warn', 'warning', 'w'],
  info: ['info', 'information', 'informational', 'notice', 'i'],
  debug: ['debug', 'dbug', 'd'],
  trace: ['trace', 't'],
};
const LEVEL_OF = new Map();
for (const [k, names] of Object.entries(LEVELS)) for (const n of names) LEVEL_OF.set(n, k);

/** The normalised level (critical, error, warn, info, debug, trace, unknown) of a level value. */
export function normalizeLevel(v) {
  if (v === null || v === undefined) return 'unknown';
  return LEVEL_OF.get(String(v).trim().toLowerCase()) || 'unknown';
}

/** Order of levels in legends and stacks: most severe first. */
export const LEVEL_ORDER = ['critical', 'error', 'warn', 'info', 'debug', 'trace', 'unknown'];

/** A stable string key of a label object. */
export function labelsKey(labels) {
  return Object.keys(labels).sort().map((k) => `${k}=${labels[k]}`).join('\u0001');
}

/** `{a="1", b="2"}` of a label object. */
export function labelsText(labels) {
  return `{${Object.keys(labels).sort().map((k) => `${k}="${escapeValue(labels[k])}"`).join(', ')}}`;
}

/** A label value escaped for a double-quoted LogQL string. */
export function escapeValue(v) {
  return String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Text escaped for HTML. */
export function escapeHtml(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));
}

/** A relative range such as `5m`, `24h` or `7d` in milliseconds (NaN if not one). */
export function durationMs(v) {
  const m = /^(\d+)(s|m|h|d|w)$/.exec(String(v || ''));
  if (!m) return NaN;
  return Number(m[1]) * { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 604800e3 }[m[2]];
}

/** A short human duration: 90s -> "1m30s". */
export function formatDuration(ms) {
  let s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const parts = [];
  for (const [u, n] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]]) {
    if (s >= n) { parts.push(`${Math.floor(s / n)}${u}`); s %= n; }
  }
  return parts.slice(0, 2).join('');
}
