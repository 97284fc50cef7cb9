// The page state (query, time range, limit, direction, live/paused, tenant, time zone) and its
// home in the URL, so a link reproduces what its sender saw. Ranges are relative (`from=now-1h`)
// or absolute (`from`/`to` in milliseconds since the epoch, as Grafana's links carry them).

import { durationMs } from './format.js';

/** Relative ranges the picker offers. */
export const RELATIVE = ['5m', '15m', '30m', '1h', '3h', '6h', '12h', '24h', '2d', '7d', '30d'];

/** The one page state; modules read it and call `update`. */
export const state = {
  query: '{service=~".+"}',
  range: '1h', // a RELATIVE value, or 'absolute'
  from: null, // ms, when absolute
  to: null, // ms, when absolute
  tz: 'local',
  limit: 1000,
  direction: 'backward',
  live: false,
  paused: false,
  tenant: '',
};

/** Reads the state from `location.search` (unknown or bad values keep the defaults). */
export function readUrl() {
  const p = new URLSearchParams(location.search);
  if (p.has('query')) state.query = p.get('query');
  const from = p.get('from');
  const to = p.get('to');
  const rel = /^now-(\d+[smhdw])$/.exec(from || '');
  if (rel && (!to || to === 'now') && Number.isFinite(durationMs(rel[1]))) {
    state.range = rel[1];
    state.from = null;
    state.to = null;
  } else if (from && to && Number.isFinite(Number(from)) && Number.isFinite(Number(to)) && Number(from) < Number(to)) {
    state.range = 'absolute';
    state.from = Number(from);
    state.to = Number(to);
  }
  if (p.get('tz') === 'utc') state.tz = 'utc';
  const limit = Number(p.get('limit'));
  if (Number.isInteger(limit) && limit > 0 && limit <= 5000) state.limit = limit;
  if (p.get('direction') === 'forward' || p.get('direction') === 'backward') state.direction = p.get('direction');
  state.live = p.get('live') === '1';
  state.paused = state.live && p.get('paused') === '1';
  state.tenant = p.get('tenant') || '';
}

/** Writes the state into the URL: `push` adds a history entry (Back undoes a zoom). */
export function writeUrl(push = false) {
  const p = new URLSearchParams();
  p.set('query', state.query);
  if (state.range === 'absolute') {
    p.set('from', String(Math.round(state.from)));
    p.set('to', String(Math.round(state.to)));
  } else {
    p.set('from', `now-${state.range}`);
    p.set('to', 'now');
  }
  p.set('limit', String(state.limit));
  p.set('direction', state.direction);
  if (state.tz === 'utc') p.set('tz', 'utc');
  if (state.live) p.set('live', '1');
  if (state.live && state.paused) p.set('paused', '1');
  if (state.tenant) p.set('tenant', state.tenant);
  const url = `${location.pathname}?${p}`;
  if (url === `${location.pathname}${location.search}`) return;
  if (push) history.pushState(null, '', url);
  else history.replaceState(null, '', url);
}

/** The selected range in milliseconds `{start, end}`, resolved against now. */
export function currentRange() {
  if (state.range === 'absolute') return { start: state.from, end: state.to };
  const end = Date.now();
  return { start: end - durationMs(state.range), end };
}
