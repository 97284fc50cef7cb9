// What an entry holds beyond its line: fields parsed from the line (`| json` or `| logfmt`,
// flattened as Loki's parsers flatten them) and the entry's level from labels, structured
// metadata, parsed fields or the line itself.

import { normalizeLevel } from './format.js';

function flattenJson(value, prefix, out) {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) {
      const key = (prefix ? `${prefix}_${k}` : k).replace(/[^A-Za-z0-9_]/g, '_');
      flattenJson(v, key, out);
    }
  } else if (prefix) {
    out.push([prefix, Array.isArray(value) ? JSON.stringify(value) : String(value)]);
  }
}

const LOGFMT_PAIR = /([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)/g;

/** Pairs `[key, value]` of a logfmt line; null when the line is not logfmt. */
export function parseLogfmt(line) {
  const out = [];
  let covered = 0;
  for (const m of line.matchAll(LOGFMT_PAIR)) {
    let v = m[2];
    if (v.startsWith('"')) {
      try { v = JSON.parse(v); } catch (e) { v = v.slice(1, -1); }
    }
    out.push([m[1].replace(/[^A-Za-z0-9_]/g, '_'), v]);
    covered += m[0].length;
  }
  // Mostly key=value pairs, as a logfmt logger writes them; a sentence with one `=` is not.
  if (out.length === 0 || (out.length < 2 && covered < line.trim().length * 0.6)) return null;
  return out;
}

/** Fields parsed from a line: `{format: 'json'|'logfmt', fields: [[k, v]...]}` or null. */
export function parseLine(line) {
  const t = line.trim();
  if (t.startsWith('{')) {
    try {
      const out = [];
      flattenJson(JSON.parse(t), '', out);
      return { format: 'json', fields: out };
    } catch (e) { /* not JSON: maybe logfmt */ }
  }
  const lf = parseLogfmt(t);
  return lf ? { format: 'logfmt', fields: lf } : null;
}

const LEVEL_KEYS = ['level', 'detected_level', 'lvl', 'severity', 'loglevel', 'log_level'];
const LEVEL_WORD = /\b(FATAL|CRITICAL|CRIT|PANIC|ERROR|ERR|WARN|WARNING|INFO|NOTICE|DEBUG|TRACE)\b/i;

/** The normalised level of an entry (labels, metadata, parsed fields, then a word in the line). */
export function levelOf(labels, metadata, parsed, line) {
  for (const src of [labels, metadata, parsed]) {
    if (!src) continue;
    for (const k of LEVEL_KEYS) if (src[k] !== undefined && src[k] !== '') return normalizeLevel(src[k]);
  }
  const p = parseLine(line);
  if (p) {
    for (const k of LEVEL_KEYS) {
      const f = p.fields.find(([key]) => key === k);
      if (f) return normalizeLevel(f[1]);
    }
  }
  const m = LEVEL_WORD.exec(line.slice(0, 200));
  return m ? normalizeLevel(m[1]) : 'unknown';
}
