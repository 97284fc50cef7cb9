// LogQL text handling for the editor: a tolerant tokenizer (highlighting works on half-typed
// queries), the completion context at the cursor, positions of the server's parse errors, and
// edits of a query's stream selector. Pure functions, no DOM.

import { escapeHtml, escapeValue } from './format.js';

/** Range-vector and aggregation functions. */
export const FUNCTIONS = [
  'count_over_time', 'rate', 'bytes_over_time', 'bytes_rate', 'absent_over_time',
  'sum_over_time', 'avg_over_time', 'min_over_time', 'max_over_time', 'stddev_over_time',
  'stdvar_over_time', 'quantile_over_time', 'first_over_time', 'last_over_time', 'rate_counter',
  'sum', 'avg', 'min', 'max', 'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'sort', 'sort_desc',
  'label_replace', 'vector',
];
/** Pipeline stages (after `|`). */
export const STAGES = [
  'json', 'logfmt', 'regexp', 'pattern', 'unpack', 'line_format', 'label_format', 'drop', 'keep',
  'decolorize', 'unwrap',
];
/** Other keywords. */
export const KEYWORDS = ['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'ip'];

const FN_SET = new Set(FUNCTIONS);
const KW_SET = new Set([...STAGES, ...KEYWORDS]);

const TOKEN_RE = /(#[^\n]*)|("(?:[^"\\\n]|\\.)*"?|`[^`]*`?)|(\[[^\]\n]*\]?)|(\|=|\|~|\|>|!=|!~|!>|=~|==|>=|<=|=|\||<|>|[-+*/%^])|([{}(),])|(\d+(?:\.\d+)?[a-zA-Z]*)|([A-Za-z_][A-Za-z0-9_.]*)|(\s+)|([\s\S])/g;

/**
 * Tokens of a query: `{type, text, start, end, depth}` where type is one of comment, string,
 * duration, op, punct, number, fn, kw, label, ident, space, other; `depth` counts open `{`.
 */
export function tokenize(text) {
  const out = [];
  let depth = 0;
  TOKEN_RE.lastIndex = 0;
  for (let m = TOKEN_RE.exec(text); m; m = TOKEN_RE.exec(text)) {
    const t = m[0];
    let type;
    if (m[1]) type = 'comment';
    else if (m[2]) type = 'string';
    else if (m[3]) type = 'duration';
    else if (m[4]) type = 'op';
    else if (m[5]) type = 'punct';
    else if (m[6]) type = 'number';
    else if (m[7]) type = depth > 0 ? 'label' : FN_SET.has(t) ? 'fn' : KW_SET.has(t) ? 'kw' : 'ident';
    else if (m[8]) type = 'space';
    else type = 'other';
    out.push({ type, text: t, start: m.index, end: m.index + t.length, depth });
    if (t === '{') depth += 1;
    else if (t === '}' && depth > 0) depth -= 1;
  }
  return out;
}

/** HTML of the query with a span per token, and the character at `errorOffset` marked. */
export function highlight(text, errorOffset = -1) {
  let html = '';
  for (const tok of tokenize(text)) {
    const cls = tok.type === 'space' || tok.type === 'other' ? '' : `t-${tok.type}`;
    let inner;
    if (errorOffset >= tok.start && errorOffset < tok.end) {
      const i = errorOffset - tok.start;
      const ch = tok.text[i] === '\n' ? ' \n' : tok.text[i];
      inner = `${escapeHtml(tok.text.slice(0, i))}<mark class="err">${escapeHtml(ch)}</mark>${escapeHtml(tok.text.slice(i + 1))}`;
    } else {
      inner = escapeHtml(tok.text);
    }
    html += cls ? `<span class="${cls}">${inner}</span>` : inner;
  }
  if (errorOffset >= text.length && errorOffset >= 0) html += '<mark class="err"> </mark>';
  // A trailing newline needs a character after it to take up its line in a <pre>.
  return `${html}\n`;
}

/** `{line, col, message}` of a `parse error at line L, col C: ...` message, or null. */
export function parseErrorPosition(message) {
  const m = /parse error at line (\d+), col (\d+): ?([\s\S]*)/.exec(message || '');
  if (!m) return null;
  return { line: Number(m[1]), col: Number(m[2]), message: m[3].trim() };
}

/** The string offset of a 1-based line and column (columns count characters). */
export function offsetOf(text, line, col) {
  let offset = 0;
  for (let l = 1; l < line; l += 1) {
    const nl = text.indexOf('\n', offset);
    if (nl < 0) return text.length;
    offset = nl + 1;
  }
  const chars = Array.from(text.slice(offset).split('\n')[0]);
  const before = chars.slice(0, Math.max(0, col - 1)).join('');
  return Math.min(offset + before.length, text.length);
}

/**
 * What to suggest at `cursor`: `{kind, label?, from, to, prefix, quoted?}` with kind one of
 * 'label' (a label name inside a selector or after by/without), 'value' (of `label`), 'stage'
 * (after `|`), 'top' (functions and keywords); null when nothing fits (inside a line filter
 * string, say).
 */
export function completionContext(text, cursor) {
  const toks = tokenize(text.slice(0, cursor));
  let cur = toks[toks.length - 1];
  let prefix = '';
  let from = cursor;
  if (cur && (cur.type === 'label' || cur.type === 'ident' || cur.type === 'fn' || cur.type === 'kw')) {
    prefix = cur.text;
    from = cur.start;
    toks.pop();
  } else if (cur && cur.type === 'string' && !/^(".*[^\\]"|""|`.*`)$/s.test(cur.text) && cur.text.length >= 1) {
    // An unterminated string: a value being typed.
    const before = toks.slice(0, -1).filter((t) => t.type !== 'space');
    const op = before[before.length - 1];
    const name = before[before.length - 2];
    if (op && op.type === 'op' && ['=', '!=', '=~', '!~'].includes(op.text) && name && name.type === 'label' && cur.depth > 0) {
      return { kind: 'value', label: name.text, from: cur.start, to: cursor, prefix: cur.text.slice(1), quoted: true };
    }
    return null;
  } else if (cur && cur.type === 'string') {
    return null;
  }
  const sig = toks.filter((t) => t.type !== 'space');
  const prev = sig[sig.length - 1];
  const depth = cur ? (cur.type === 'punct' && cur.text === '{' ? cur.depth + 1 : (cur.text === '}' ? Math.max(0, cur.depth - 1) : cur.depth)) : 0;
  if (depth > 0) {
    if (!prev || prev.text === '{' || prev.text === ',') return { kind: 'label', from, to: cursor, prefix };
    if (prev.type === 'op' && ['=', '!=', '=~', '!~'].includes(prev.text)) {
      const name = sig[sig.length - 2];
      if (name && name.type === 'label') return { kind: 'value', label: name.text, from, to: cursor, prefix, quoted: false };
    }
    return null;
  }
  if (prev && prev.text === '|') return { kind: 'stage', from, to: cursor, prefix };
  if (prev && prev.text === '(' ) {
    const kw = sig[sig.length - 2];
    if (kw && (kw.text === 'by' || kw.text === 'without')) return { kind: 'label', from, to: cursor, prefix };
  }
  if (prev && prev.text === ',' ) {
    // Inside `by (a, b`?
    for (let i = sig.length - 1; i >= 1; i -= 1) {
      if (sig[i].text === ')') break;
      if (sig[i].text === '(' && (sig[i - 1].text === 'by' || sig[i - 1].text === 'without')) return { kind: 'label', from, to: cursor, prefix };
    }
  }
  if (prefix || !prev || prev.text === '(' || prev.type === 'op') return { kind: 'top', from, to: cursor, prefix };
  return null;
}

/** Start and end offsets of the first stream selector `{...}` of a query, or null. */
export function selectorSpan(text) {
  const toks = tokenize(text);
  const open = toks.find((t) => t.type === 'punct' && t.text === '{');
  if (!open) return null;
  const close = toks.find((t) => t.start > open.start && t.type === 'punct' && t.text === '}' && t.depth === open.depth + 1);
  return close ? { start: open.start, end: close.end } : null;
}

/** The stream selector of a query (`{...}`), or `{}`. */
export function selectorOf(text) {
  const span = selectorSpan(text);
  return span ? text.slice(span.start, span.end) : '{}';
}

/** True when the query is a log query (a selector first), false for a metric query. */
export function isLogQuery(text) {
  const first = tokenize(text).find((t) => t.type !== 'space' && t.type !== 'comment');
  return !!first && first.text === '{';
}

/** The query with `name op "value"` added to its selector (once), or a new selector. */
export function addMatcher(text, name, value, op = '=') {
  const matcher = `${name}${op}"${escapeValue(value)}"`;
  const span = selectorSpan(text);
  if (!span) return text.trim() ? `{${matcher}} ${text.trim()}` : `{${matcher}}`;
  const inner = text.slice(span.start + 1, span.end - 1);
  const parts = inner.split(',').map((p) => p.trim().replace(/\s+/g, ''));
  if (parts.includes(matcher.replace(/\s+/g, ''))) return text;
  // A matcher of the same label with `=` is replaced, so clicking another value switches.
  const re = new RegExp(`(^|,)\\s*${name}\\s*=\\s*"(?:[^"\\\\]|\\\\.)*"\\s*(?=,|$)`);
  let next;
  if (op === '=' && re.test(inner)) next = inner.replace(re, (m, sep) => `${sep}${sep ? ' ' : ''}${matcher}`);
  else next = inner.trim() ? `${inner.replace(/\s+$/, '')}, ${matcher}` : matcher;
  return `${text.slice(0, span.start)}{${next}}${text.slice(span.end)}`;
}

/** The query with its selector replaced by `selector` (or `selector` alone if it had none). */
export function replaceSelector(text, selector) {
  const span = selectorSpan(text);
  if (!span) return selector;
  return `${text.slice(0, span.start)}${selector}${text.slice(span.end)}`;
}
