// HTTP calls to logq: every request carries the tenant (`X-Scope-OrgID`) from the page state;
// failures become `ApiError` with the server's plain-text reason.

import { state } from './state.js';

/** A failed request: the HTTP status (0 for a network failure) and the server's message. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function headers(extra) {
  const h = { ...extra };
  if (state.tenant) h['X-Scope-OrgID'] = state.tenant;
  return h;
}

/** `method path?params`, answering `{body, headers}` (body parsed when JSON). */
export async function request(method, path, params = {}, { signal, extraHeaders } = {}) {
  const qs = new URLSearchParams(params).toString();
  let r;
  try {
    r = await fetch(qs ? `${path}?${qs}` : path, { method, headers: headers(extraHeaders), signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, `cannot reach the server: ${e.message}`);
  }
  const text = await r.text();
  if (!r.ok) throw new ApiError(r.status, text.trim() || `${r.status} ${r.statusText}`);
  let body = text;
  if ((r.headers.get('content-type') || '').includes('json') && text) body = JSON.parse(text);
  return { body, headers: r.headers };
}

/** GET shorthand answering the parsed body. */
export async function get(path, params, opts) {
  return (await request('GET', path, params, opts)).body;
}

/** The WebSocket URL of `path?params` on this server, tenant as `orgId` (no headers on sockets). */
export function wsUrl(path, params) {
  const p = new URLSearchParams(params);
  if (state.tenant) p.set('orgId', state.tenant);
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}${path}?${p}`;
}
