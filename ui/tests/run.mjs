// Browser tests of logq's web UI: starts a real `logq serve` on a free loopback port, pushes
// data over HTTP, drives Debian's headless Chromium with playwright-core through every scenario
// of issue 15, saves a screenshot of each state, measures Enter-to-first-lines and scrolling,
// and exits non-zero when any scenario fails.
//
// Environment: LOGQ_BIN (binary; default $CARGO_TARGET_DIR/{debug,release}/logq),
// CHROMIUM (default /usr/bin/chromium), UI_ARTIFACTS (screenshots, perf.json, trace; default
// $CARGO_TARGET_DIR/ui-screenshots), UI_ONLY (run only scenarios whose name contains it).

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const targetDir = process.env.CARGO_TARGET_DIR || join(repo, 'target');
const bin = process.env.LOGQ_BIN || ['debug', 'release'].map((p) => join(targetDir, p, 'logq')).find(existsSync);
const artifacts = process.env.UI_ARTIFACTS || join(targetDir, 'ui-screenshots');
const only = process.env.UI_ONLY || '';
if (!bin) {
  console.error(`no logq binary under ${targetDir}/{debug,release}: build it (cargo build) or set LOGQ_BIN`);
  process.exit(2);
}
mkdirSync(artifacts, { recursive: true });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
  });
}

// ---- the server ----------------------------------------------------------------------------
const dataDir = mkdtempSync(join(tmpdir(), 'logq-ui-'));
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const server = spawn(bin, [
  'serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir,
  '--flush-check-interval', '200ms', '--window-grace', '0s',
  '--compact-interval', '500ms', '--compact-hour-grace', '0s',
], { env: { ...process.env, LOGQ_LOG: 'warn' }, stdio: ['ignore', 'ignore', 'inherit'] });
let browser = null;
function cleanup() {
  try { server.kill('SIGKILL'); } catch (e) { /* already gone */ }
  rmSync(dataDir, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { cleanup(); process.exit(130); });

for (let i = 0; ; i += 1) {
  try { if ((await fetch(`${base}/ready`)).ok) break; } catch (e) { /* not yet */ }
  if (server.exitCode !== null) throw new Error(`logq serve exited with ${server.exitCode}`);
  if (i > 300) throw new Error('logq serve did not become ready');
  await sleep(100);
}

async function push(streams, tenant) {
  const body = { streams: streams.map((s) => ({ stream: s.labels, values: s.values })) };
  const headers = { 'Content-Type': 'application/json' };
  if (tenant) headers['X-Scope-OrgID'] = tenant;
  const r = await fetch(`${base}/loki/api/v1/push`, { method: 'POST', headers, body: JSON.stringify(body) });
  if (r.status !== 204) throw new Error(`push failed: ${r.status} ${await r.text()}`);
}

// ---- data ------------------------------------------------------------------------------------
const nowMs = Date.now();
const ns = (ms) => `${BigInt(Math.round(ms)) * 1000000n}`;
const ago = (s) => ns(nowMs - s * 1000);
const apiInfo = []; const apiError = []; const web = []; const worker = [];
for (let i = 0; i < 40; i += 1) {
  apiInfo.push([ago(3000 - i * 70), `level=info msg="request served" path=/api/users/${i} status=200 duration=${10 + i}ms`]);
  if (i % 4 === 0) apiError.push([ago(2990 - i * 70), `level=error msg="upstream failed" path=/api/orders status=502 err="connection refused"`, { trace_id: `trace-${i}` }]);
  if (i % 2 === 0) web.push([ago(2980 - i * 70), JSON.stringify({ level: 'warn', msg: 'slow response', latency_ms: 900 + i, user: { id: 42, name: 'ada' } }), { trace_id: `web-${i}` }]);
  if (i % 5 === 0) worker.push([ago(2970 - i * 70), `DEBUG job ${i} picked from queue`]);
}
await push([
  { labels: { service: 'api', level: 'info', env: 'prod' }, values: apiInfo },
  { labels: { service: 'api', level: 'error', env: 'prod' }, values: apiError },
  { labels: { service: 'web', level: 'warn', env: 'prod' }, values: web },
  { labels: { service: 'worker', level: 'debug', env: 'staging' }, values: worker },
]);
// 1,000 lines for the paint timing, 5,000 for scrolling (spread over the last 40 minutes).
const bulk = []; const scroll = [];
for (let i = 0; i < 1000; i += 1) bulk.push([ago(2400 - i * 2.2), `level=info msg="bulk line ${i}" user=u${i % 37} bytes=${i * 13}`]);
for (let i = 0; i < 5000; i += 1) scroll.push([ago(2400 - i * 0.45), `level=${['info', 'warn', 'error', 'debug'][i % 4]} msg="scroll line ${i}" request_id=${(i * 2654435761 % 4294967296).toString(16)} path=/v1/items/${i}`]);
await push([{ labels: { service: 'bulk' }, values: bulk }, { labels: { service: 'scroll' }, values: scroll }]);
await push([{ labels: { service: 'billing', level: 'info' }, values: [[ago(600), 'invoice created for team-b customer'], [ago(500), 'invoice paid by team-b customer']] }], 'team-b');

// ---- the browser -----------------------------------------------------------------------------
browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, colorScheme: 'light' });
await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
const page = await context.newPage();
const consoleErrors = [];
page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });

const results = [];
const perfOut = {};
let shot = 0;
async function snap(name) {
  shot += 1;
  await page.screenshot({ path: join(artifacts, `${String(shot).padStart(2, '0')}-${name}.png`) });
}
function assert(cond, message) { if (!cond) throw new Error(message); }
async function waitFor(fn, message, timeout = 5000) {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > timeout) throw new Error(`timed out: ${message}`);
    await sleep(50);
  }
}

const editor = () => page.getByRole('textbox', { name: 'LogQL query' });
const list = () => page.getByRole('list', { name: 'Log lines' });
const rows = () => list().getByRole('listitem');
const statusText = () => page.locator('#status').textContent();

async function runQuery(q) {
  await editor().fill(q);
  await editor().press('Escape');
  await page.getByRole('button', { name: 'Run query' }).click();
  await waitFor(async () => !(await statusText()).startsWith('Running'), `query ${q} to finish`);
}
async function gotoHome(params = '') {
  await page.goto(`${base}/${params}`);
  await waitFor(async () => !['', 'Running…'].includes(await statusText()), 'first query');
}

async function scenario(name, fn) {
  if (only && !name.includes(only)) return;
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ok: true, ms: Date.now() - t0 });
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    results.push({ name, ok: false, error: e.message });
    console.log(`FAIL ${name}: ${e.message}`);
    await snap(`FAILED-${name.replace(/\W+/g, '-')}`).catch(() => {});
  }
}

// ---- scenarios -------------------------------------------------------------------------------
await scenario('accessible names', async () => {
  await gotoHome();
  assert(await editor().count() === 1, 'textbox "LogQL query"');
  assert(await page.getByRole('button', { name: 'Run query' }).count() === 1, 'button "Run query"');
  assert(await page.getByLabel('Time range').count() === 1, 'control "Time range"');
  assert(await page.getByRole('region', { name: 'Log volume' }).count() === 1, 'region "Log volume"');
  assert(await list().count() === 1, 'list "Log lines"');
  const live = page.getByRole('button', { name: 'Live', exact: true });
  assert(await live.getAttribute('aria-pressed') === 'false', 'toggle "Live" with aria-pressed');
  assert(await page.getByRole('region', { name: 'History' }).getByRole('button', { name: 'Load history' }).count() === 1, 'region "History" with "Load history"');
  assert(await page.getByRole('region', { name: 'Labels' }).count() === 1, 'region "Labels"');
  const badAssets = await page.evaluate(() => performance.getEntriesByType('resource').filter((r) => !r.name.startsWith(location.origin)).map((r) => r.name));
  assert(badAssets.length === 0, `only same-origin assets, got ${badAssets}`);
});

await scenario('run a query and see the lines', async () => {
  await gotoHome();
  await editor().fill('{service="api"}');
  await editor().press('Enter');
  await waitFor(async () => (await statusText()).startsWith('50 lines'), 'the api query answered');
  const text = await list().textContent();
  assert(text.includes('request served') && text.includes('upstream failed'), 'api lines shown');
  assert(!text.includes('slow response'), 'no web lines');
  const first = rows().first();
  assert(await first.locator('time').count() === 1, 'row has a time');
  assert((await first.getAttribute('class')).includes('lvl-'), 'row has a level colour');
  assert(new URL(page.url()).searchParams.get('query') === '{service="api"}', 'query in the URL');
  await snap('search-results');
});

await scenario('a parse error shows its position', async () => {
  await gotoHome();
  await editor().fill('{service="api"}\n  |= "unterminated');
  await page.getByRole('button', { name: 'Run query' }).click();
  const alert = page.locator('#query-error');
  await waitFor(async () => alert.isVisible(), 'error shown');
  const msg = await alert.textContent();
  assert(/line 2, column \d+/.test(msg), `message names line and column: ${msg}`);
  assert(await page.locator('#editor-hl mark.err').count() === 1, 'position marked in the editor');
  assert(await editor().getAttribute('aria-invalid') === 'true', 'editor marked invalid');
  await snap('parse-error');
  await editor().fill('{service="api"} |= "x"');
  assert(!(await alert.isVisible()), 'error cleared when typing');
});

await scenario('the histogram has bars for each level present', async () => {
  await gotoHome(`?query=${encodeURIComponent('{env=~"prod|staging"}')}&from=now-1h&to=now`);
  const region = page.getByRole('region', { name: 'Log volume' });
  await waitFor(async () => (await region.locator('rect.bar').count()) > 0, 'bars');
  for (const lvl of ['error', 'warn', 'info', 'debug']) {
    assert(await region.locator(`rect.bar.lvl-${lvl}`).count() > 0, `bars for ${lvl}`);
    assert(await region.locator(`button.level-btn.lvl-${lvl}`).count() === 1, `legend button for ${lvl}`);
  }
  assert(await region.locator('rect.bar.lvl-critical').count() === 0, 'no bars for absent levels');
  const legend = await region.locator('#volume-levels').textContent();
  assert(legend.includes('info 40') && legend.includes('error 10') && legend.includes('warn 20') && legend.includes('debug 8'), `counts per level: ${legend}`);
  await snap('histogram');
  // No level label: the level is parsed from the logfmt lines.
  await runQuery('{service="scroll"}');
  await waitFor(async () => (await region.locator('#volume-levels').textContent()).includes('error 1,250'), 'parsed levels', 10000);
  const parsed = await region.locator('#volume-levels').textContent();
  assert(['info', 'warn', 'debug'].every((l) => parsed.includes(`${l} 1,250`)) && !parsed.includes('unknown'), `parsed level counts: ${parsed}`);
  await snap('histogram-parsed-levels');
  await region.locator('button.level-btn.lvl-error').click();
  await waitFor(async () => (await editor().inputValue()) === '{service="scroll"} | logfmt | level="error"', 'filter through the parser');
});

await scenario('click a level to filter', async () => {
  await gotoHome(`?query=${encodeURIComponent('{env=~"prod|staging"}')}&from=now-1h&to=now`);
  const region = page.getByRole('region', { name: 'Log volume' });
  await waitFor(async () => (await region.locator('button.level-btn.lvl-error').count()) > 0, 'legend');
  await region.locator('button.level-btn.lvl-error').click();
  await waitFor(async () => (await editor().inputValue()).includes('level="error"'), 'query filtered');
  await waitFor(async () => (await rows().count()) === 10, 'ten error rows');
  const classes = await rows().evaluateAll((els) => els.map((e) => e.className));
  assert(classes.every((c) => c.includes('lvl-error')), `only error rows: ${classes}`);
  await snap('level-filter');
});

await scenario('zoom by drag changes the range in the URL', async () => {
  await gotoHome(`?query=${encodeURIComponent('{service="api"}')}&from=now-1h&to=now`);
  const chart = page.locator('#volume-chart svg');
  await waitFor(async () => (await chart.locator('rect.bar').count()) > 0, 'bars');
  const box = await chart.boundingBox();
  const before = new URL(page.url()).searchParams.get('from');
  assert(before === 'now-1h', `relative before: ${before}`);
  await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height / 2, { steps: 5 });
  await snap('zoom-dragging');
  await page.mouse.move(box.x + box.width * 0.7, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  await waitFor(async () => /^\d+$/.test(new URL(page.url()).searchParams.get('from') || ''), 'absolute from in URL');
  const u = new URL(page.url()).searchParams;
  const from = Number(u.get('from'));
  const to = Number(u.get('to'));
  assert(to > from && to - from < 30 * 60e3 && to - from > 15 * 60e3, `about 40% of an hour: ${(to - from) / 60e3} min`);
  assert(await page.getByLabel('Time range').inputValue() === 'absolute', 'picker shows absolute');
  await waitFor(async () => !(await statusText()).startsWith('Running'), 'query after zoom');
  await snap('zoomed');
  await page.goBack();
  await waitFor(async () => new URL(page.url()).searchParams.get('from') === 'now-1h', 'Back undoes the zoom');
});

await scenario('expand an entry shows its parsed fields', async () => {
  await gotoHome(`?query=${encodeURIComponent('{service="web"}')}&from=now-1h&to=now`);
  await waitFor(async () => (await rows().count()) > 0, 'rows');
  const first = rows().first();
  await first.getByRole('button', { name: 'Show details' }).click();
  const open = list().locator('.row.open');
  await waitFor(async () => (await open.count()) === 1, 'expanded');
  const text = await open.textContent();
  assert(text.includes('Parsed fields (json)'), 'json fields');
  for (const f of ['latency_ms', 'user_id', 'user_name', 'msg']) assert(text.includes(f), `field ${f}`);
  assert(text.includes('Structured metadata') && text.includes('trace_id') && text.includes('web-'), 'structured metadata');
  assert(text.includes('Labels') && text.includes('service'), 'labels');
  await snap('expanded-json');
  await runQuery('{service="api", level="error"}');
  await rows().first().getByRole('button', { name: 'Show details' }).click();
  const t2 = await list().locator('.row.open').textContent();
  assert(t2.includes('Parsed fields (logfmt)') && t2.includes('status') && t2.includes('502'), 'logfmt fields');
  await snap('expanded-logfmt');
});

await scenario('click a compact label adds it to the selector', async () => {
  await gotoHome(`?query=${encodeURIComponent('{env="prod"}')}&from=now-1h&to=now`);
  await waitFor(async () => (await rows().count()) > 0, 'rows');
  await rows().first().getByRole('button', { name: /^service=/ }).click();
  await waitFor(async () => /service="(api|web)"/.test(await editor().inputValue()), 'label added');
  assert((await editor().inputValue()).startsWith('{env="prod", service='), await editor().inputValue());
});

await scenario('autocomplete of labels, values and keywords', async () => {
  await gotoHome();
  await editor().fill('');
  await editor().pressSequentially('{serv');
  const box = page.getByRole('listbox', { name: 'Suggestions' });
  await waitFor(async () => box.isVisible(), 'label suggestions');
  assert((await box.textContent()).includes('service'), 'service suggested');
  await editor().press('Enter');
  assert(await editor().inputValue() === '{service', `accepted: ${await editor().inputValue()}`);
  await editor().pressSequentially('="w');
  await waitFor(async () => (await box.isVisible()) && (await box.textContent()).includes('web'), 'value suggestions');
  await snap('autocomplete');
  await editor().press('Tab');
  assert(await editor().inputValue() === '{service="web"', `value accepted: ${await editor().inputValue()}`);
  await editor().pressSequentially('} | js');
  await waitFor(async () => (await box.isVisible()) && (await box.textContent()).includes('json'), 'stage suggestion');
  await editor().press('Enter');
  assert(await editor().inputValue() === '{service="web"} | json', await editor().inputValue());
  assert(await page.locator('#editor-hl .t-kw').count() >= 1 && await page.locator('#editor-hl .t-string').count() >= 1, 'highlighted');
  await editor().press('Shift+Enter');
  assert((await editor().inputValue()).endsWith('\n'), 'Shift+Enter adds a line');
  await editor().press('Control+Enter');
  await waitFor(async () => (await rows().count()) === 20, 'Ctrl+Enter runs');
});

await scenario('load older continues backward', async () => {
  await gotoHome(`?query=${encodeURIComponent('{service="bulk"}')}&from=now-1h&to=now&limit=100`);
  await waitFor(async () => (await statusText()).startsWith('100 lines'), '100 lines');
  const older = page.getByRole('button', { name: 'Load older' });
  assert(await older.isVisible(), 'Load older shown');
  const lastBefore = await page.evaluate(() => window.logq.results.last().line);
  await older.click();
  await waitFor(async () => (await page.evaluate(() => window.logq.results.entries.length)) === 200, '200 lines');
  const lines = await page.evaluate(() => window.logq.results.entries.map((e) => e.line));
  assert(lines[99] === lastBefore && lines[100] === 'level=info msg="bulk line 899" user=u11 bytes=11687', `continues after the last: ${lines[100]}`);
  assert(new Set(lines).size === 200, 'no duplicates');
});

await scenario('copy line and show context', async () => {
  await gotoHome(`?query=${encodeURIComponent('{service="bulk"} |= "bulk line 500"')}&from=now-1h&to=now`);
  await waitFor(async () => (await rows().count()) === 1, 'one row');
  const row = rows().first();
  await row.hover();
  await row.getByRole('button', { name: 'Copy' }).click();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  assert(copied === 'level=info msg="bulk line 500" user=u19 bytes=6500', `clipboard: ${copied}`);
  await row.getByRole('button', { name: 'Context' }).click();
  const dlg = page.getByRole('dialog');
  await waitFor(async () => (await dlg.locator('li').count()) === 21, 'ten before, the line, ten after');
  const items = await dlg.locator('li').allTextContents();
  assert(items[9].includes('bulk line 499') && items[10].includes('bulk line 500') && items[11].includes('bulk line 501'), 'in order around the line');
  assert(await dlg.locator('li[aria-current="true"]').count() === 1, 'current line marked');
  await snap('context');
  await page.keyboard.press('Escape');
});

await scenario('keyboard: move through rows and expand', async () => {
  await gotoHome(`?query=${encodeURIComponent('{service="web"}')}&from=now-1h&to=now`);
  await waitFor(async () => (await rows().count()) > 0, 'rows');
  await list().focus();
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  const focused = await page.evaluate(() => document.activeElement.getAttribute('aria-posinset'));
  assert(focused === '2', `second row focused: ${focused}`);
  await page.keyboard.press('Enter');
  await waitFor(async () => (await list().locator('.row.open').count()) === 1, 'Enter expands');
  assert(await list().locator('.row.open').getAttribute('aria-posinset') === '2', 'the focused row');
  await page.keyboard.press('/');
  assert(await page.evaluate(() => document.activeElement.id) === 'query', '"/" focuses the query');
});

await scenario('live shows a pushed line within 2 s and pause keeps it', async () => {
  await gotoHome(`?query=${encodeURIComponent('{service="live"}')}&from=now-5m&to=now`);
  const live = page.getByRole('button', { name: 'Live', exact: true });
  await live.click();
  assert(await live.getAttribute('aria-pressed') === 'true', 'Live pressed');
  await waitFor(async () => (await page.locator('#live-stats').textContent()).startsWith('streaming'), 'socket open');
  assert(new URL(page.url()).searchParams.get('live') === '1', 'live in the URL');
  const t0 = Date.now();
  await push([{ labels: { service: 'live' }, values: [[ns(Date.now()), 'live line one']] }]);
  await waitFor(async () => (await list().textContent()).includes('live line one'), 'line within 2 s', 2000);
  const latency = Date.now() - t0;
  perfOut.liveLatencyMs = latency;
  await snap('live');
  await page.getByRole('button', { name: 'Pause' }).click();
  assert(new URL(page.url()).searchParams.get('paused') === '1', 'paused in the URL');
  await push([{ labels: { service: 'live' }, values: [[ns(Date.now()), 'live line two']] }]);
  await waitFor(async () => (await page.locator('#live-stats').textContent()).includes('1 waiting'), 'buffered while paused', 4000);
  const text = await list().textContent();
  assert(text.includes('live line one') && !text.includes('live line two'), 'paused view keeps the old line only');
  await snap('live-paused');
  await page.getByRole('button', { name: 'Resume' }).click();
  await waitFor(async () => (await list().textContent()).includes('live line two'), 'resume shows the buffer');
  const stats = await page.locator('#live-stats').textContent();
  assert(/lines\/s/.test(stats) && /0 dropped/.test(stats) && /2 received/.test(stats), `counters: ${stats}`);
  await live.click();
  assert(await live.getAttribute('aria-pressed') === 'false', 'Live off');
  console.log(`     live latency ${latency} ms`);
});

await scenario('live reconnects by itself', async () => {
  await gotoHome(`?query=${encodeURIComponent('{service="live2"}')}&from=now-5m&to=now&live=1`);
  await waitFor(async () => (await page.locator('#live-stats').textContent()).startsWith('streaming'), 'socket open');
  // Close the socket from the client side as a network drop would (code 1006 is not settable, 4000 is).
  await page.evaluate(() => window.logq.liveSocket().close(4000, 'test drop'));
  await waitFor(async () => (await page.locator('#live-stats').textContent()).startsWith('reconnecting'), 'reconnecting shown');
  // Pushed while the socket is down: the reconnected tail must still bring it.
  await push([{ labels: { service: 'live2' }, values: [[ns(Date.now()), 'during the drop']] }]);
  await waitFor(async () => (await page.locator('#live-stats').textContent()).startsWith('streaming'), 'reconnected', 6000);
  await push([{ labels: { service: 'live2' }, values: [[ns(Date.now()), 'after reconnect']] }]);
  await waitFor(async () => (await list().textContent()).includes('after reconnect'), 'lines after reconnect', 3000);
  assert((await list().textContent()).includes('during the drop'), 'the line pushed while disconnected');
});

await scenario('a tenant switch shows only that tenant', async () => {
  await gotoHome(`?query=${encodeURIComponent('{service=~".+"}')}&from=now-1h&to=now&limit=100`);
  await waitFor(async () => (await rows().count()) > 0, 'rows of the default tenant');
  const tenant = page.getByLabel('Tenant (X-Scope-OrgID)');
  await tenant.fill('team-b');
  await tenant.press('Enter');
  await waitFor(async () => (await statusText()).startsWith('2 lines'), 'two team-b lines');
  const text = await list().textContent();
  assert(text.includes('invoice created for team-b') && !text.includes('request served') && !text.includes('bulk line'), 'only team-b data');
  assert(new URL(page.url()).searchParams.get('tenant') === 'team-b', 'tenant in the URL');
  await waitFor(async () => (await page.getByRole('region', { name: 'Labels' }).textContent()).includes('service'), 'labels of team-b');
  await snap('tenant-b');
  await tenant.fill('');
  await tenant.press('Enter');
  await waitFor(async () => (await statusText()).startsWith('100 lines'), 'default tenant again');
});

await scenario('label browser builds a selector', async () => {
  await gotoHome();
  const region = page.getByRole('region', { name: 'Labels' });
  const name = region.getByRole('button', { name: /^service/ });
  await waitFor(async () => (await name.count()) === 1, 'service label');
  assert(/service\s*7/.test(await name.textContent()), `cardinality 7 (api web worker bulk scroll live live2): ${await name.textContent()}`);
  await name.click();
  const api = region.getByRole('button', { name: /^api/ });
  await waitFor(async () => (await api.count()) === 1, 'values');
  assert(/api\s*50/.test(await api.textContent()), `count of api lines: ${await api.textContent()}`);
  await api.click();
  await region.getByRole('button', { name: /^web/ }).click();
  assert(await region.locator('#built-selector').textContent() === '{service=~"api|web"}', await region.locator('#built-selector').textContent());
  await snap('label-browser');
  await region.getByRole('button', { name: 'Use selector' }).click();
  await waitFor(async () => (await editor().inputValue()) === '{service=~"api|web"}', 'selector used');
  await waitFor(async () => (await statusText()).startsWith('70 lines'), '70 lines');
});

await scenario('page state lives in the URL', async () => {
  const from = nowMs - 45 * 60e3; const to = nowMs - 5 * 60e3;
  await gotoHome(`?query=${encodeURIComponent('{service="api"} |= "error"')}&from=${from}&to=${to}&limit=500&direction=forward&tz=utc`);
  assert(await editor().inputValue() === '{service="api"} |= "error"', 'query restored');
  assert(await page.getByLabel('Time range').inputValue() === 'absolute', 'absolute range restored');
  assert(await page.getByLabel('From').inputValue() === new Date(from).toISOString().slice(0, 19), 'from in UTC');
  assert(await page.getByLabel('Limit').inputValue() === '500', 'limit');
  assert(await page.getByLabel('Direction').inputValue() === 'forward', 'direction');
  assert(await page.getByLabel('Time zone').inputValue() === 'utc', 'zone');
  await waitFor(async () => (await rows().count()) > 0, 'rows');
  const times = await rows().locator('time').allTextContents();
  assert(times.length > 1 && times[0] <= times[1], 'oldest first');
  assert(times[0] === new Date(await page.evaluate(() => window.logq.results.entries[0].ms)).toISOString().replace('T', ' ').slice(0, 23), 'times in UTC');
  await page.getByLabel('Time range').selectOption('15m');
  await waitFor(async () => new URL(page.url()).searchParams.get('from') === 'now-15m', 'relative range in URL');
});

await scenario('light and dark themes', async () => {
  await gotoHome(`?query=${encodeURIComponent('{env=~"prod|staging"}')}&from=now-1h&to=now`);
  await waitFor(async () => (await page.locator('rect.bar').count()) > 0, 'bars');
  await snap('theme-light');
  const toggle = page.getByRole('button', { name: 'Dark theme' });
  await toggle.click();
  assert(await page.evaluate(() => document.documentElement.dataset.theme) === 'dark', 'dark');
  assert(await toggle.getAttribute('aria-pressed') === 'true', 'toggle pressed');
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert(bg === 'rgb(17, 20, 24)', `dark background: ${bg}`);
  await rows().first().getByRole('button', { name: 'Show details' }).click();
  await snap('theme-dark');
  await page.reload();
  assert(await page.evaluate(() => document.documentElement.dataset.theme) === 'dark', 'theme persists');
  await page.getByRole('button', { name: 'Dark theme' }).click();
});

await scenario('history panel', async () => {
  const probe = await fetch(`${base}/logq/api/v1/history`);
  await gotoHome(`?query=${encodeURIComponent('{service="api"}')}&from=now-1h&to=now`);
  const region = page.getByRole('region', { name: 'History' });
  const load = region.getByRole('button', { name: 'Load history' });
  if (probe.status === 404 || probe.status === 503) {
    await waitFor(async () => (await region.textContent()).includes('unavailable'), 'unavailable shown');
    assert(await load.isDisabled(), 'Load history disabled while unavailable');
    assert((await rows().count()) > 0, 'the page still works');
    await snap('history-unavailable');
    console.log(`     history API absent (${probe.status}): checked the unavailable state`);
    return;
  }
  // Wait until the pushed data is flushed (history builds from flushed chunks and blocks).
  await sleep(1500);
  await load.click();
  const item = region.locator('li.hist');
  await waitFor(async () => (await item.count()) >= 1, 'an index listed', 10000);
  const seen = new Set();
  await waitFor(async () => {
    const st = (await item.first().locator('.state').textContent()).trim();
    seen.add(st);
    if (st === 'building' || st === 'queued') await snap('history-building').catch(() => {});
    return st === 'ready' || st === 'failed';
  }, 'ready', 60000);
  assert((await item.first().locator('.state').textContent()).trim() === 'ready', `ready, saw ${[...seen]}`);
  assert(await item.first().locator('progress').getAttribute('value') === '1', 'progress full');
  await snap('history-ready');
  await runQuery('{service="api"} |= "upstream"');
  const badge = page.locator('#path-badge');
  await waitFor(async () => badge.isVisible(), 'X-Logq-Path badge');
  console.log(`     history states seen: ${[...seen].join(', ')}; badge: ${await badge.textContent()}`);
  await region.getByRole('button', { name: /^Drop history index/ }).first().click();
  await waitFor(async () => (await item.count()) === 0, 'dropped', 10000);
});

// ---- measurements ----------------------------------------------------------------------------
await scenario('measure: Enter to first lines painted (1,000 lines)', async () => {
  await gotoHome(`?query=${encodeURIComponent('{service="bulk"}')}&from=now-1h&to=now&limit=1000`);
  const times = [];
  for (let i = 0; i < 7; i += 1) {
    const runs = await page.evaluate(() => window.logqPerf.runs);
    await editor().focus();
    // Measured in the page from the Enter keydown to the frame after the rows were rendered.
    await page.evaluate(() => {
      window.__enterAt = null;
      document.getElementById('query').addEventListener('keydown', () => { window.__enterAt = performance.now(); }, { once: true, capture: true });
    });
    await editor().press('Enter');
    await waitFor(async () => (await page.evaluate(() => window.logqPerf.runs)) > runs, 'paint recorded');
    const r = await page.evaluate(() => ({ ...window.logqPerf.last, enterAt: window.__enterAt }));
    assert(r.lines === 1000, `1000 lines, got ${r.lines}`);
    times.push(r.ms);
  }
  times.sort((a, b) => a - b);
  perfOut.enterToFirstLinesMs = { runs: times.length, min: times[0], median: times[Math.floor(times.length / 2)], max: times[times.length - 1] };
  console.log(`     Enter to first lines (1,000 lines): median ${times[3].toFixed(1)} ms, min ${times[0].toFixed(1)}, max ${times[6].toFixed(1)}`);
});

await scenario('measure: scrolling 5,000 lines', async () => {
  await gotoHome(`?query=${encodeURIComponent('{service="scroll"}')}&from=now-1h&to=now&limit=5000`);
  await waitFor(async () => (await statusText()).startsWith('5,000 lines'), '5,000 lines', 20000);
  await snap('5000-lines');
  // Scrolls the whole list top to bottom at a fixed speed, one step per animation frame, and
  // answers the intervals between frames (16.7 ms at 60 Hz when no frame is dropped).
  const scrollOnce = (frames) => page.evaluate((n) => new Promise((res) => {
    const el = document.getElementById('results');
    el.scrollTop = 0;
    const out = [];
    let last = 0;
    const max = el.scrollHeight - el.clientHeight;
    const stepPx = max / n;
    function frame(t) {
      out.push(t - last);
      last = t;
      if (el.scrollTop >= max - 1) {
        res({ frames: out, rows: el.querySelectorAll('[role=listitem]').length, scrollHeight: el.scrollHeight });
        return;
      }
      el.scrollTop = Math.min(max, el.scrollTop + stepPx);
      requestAnimationFrame(frame);
    }
    requestAnimationFrame((t) => { last = t; requestAnimationFrame(frame); });
  }), frames);
  const FRAMES = 360; // 5,000 lines (110,000 px) in 6 s: about 14 lines per frame
  const r = await scrollOnce(FRAMES);
  // Once more under Chromium's performance trace (saved as an artifact): its DroppedFrame count.
  const tracePath = join(artifacts, 'scroll-trace.json');
  await browser.startTracing(page, { path: tracePath, categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline.frame', 'benchmark'] });
  const traced = await scrollOnce(FRAMES);
  await browser.stopTracing();
  const trace = JSON.parse(readFileSync(tracePath, 'utf8'));
  const events = Array.isArray(trace) ? trace : trace.traceEvents;
  const droppedInTrace = events.filter((e) => e.name === 'DroppedFrame').length;
  const drawnInTrace = events.filter((e) => e.name === 'DrawFrame' || e.name === 'Display::FrameDisplayed').length;
  const f = r.frames.slice(1).sort((a, b) => a - b);
  const median = f[Math.floor(f.length / 2)];
  const over = (ms) => r.frames.slice(1).filter((x) => x > ms).length;
  perfOut.scroll5000 = {
    frames: f.length, medianFrameMs: median, p95FrameMs: f[Math.floor(f.length * 0.95)], maxFrameMs: f[f.length - 1],
    framesOver20ms: over(20), framesOver33ms: over(33.4), rowsInDom: r.rows, scrollHeightPx: r.scrollHeight,
    traced: { frames: traced.frames.length - 1, droppedFrameEvents: droppedInTrace, drawFrameEvents: drawnInTrace },
  };
  assert(r.rows < 150, `virtualised: ${r.rows} rows in the DOM`);
  await snap('5000-lines-scrolled');
  console.log(`     scroll 5,000 lines: ${f.length} frames, median ${median.toFixed(1)} ms, p95 ${perfOut.scroll5000.p95FrameMs.toFixed(1)} ms, max ${f[f.length - 1].toFixed(1)} ms, ${over(20)} over 20 ms; traced: ${droppedInTrace} DroppedFrame events; ${r.rows} rows in the DOM`);
});

await scenario('no errors in the page console', async () => {
  const real = consoleErrors.filter((e) => !/status of (400|404)/.test(e));
  assert(real.length === 0, real.join('\n'));
});

writeFileSync(join(artifacts, 'perf.json'), `${JSON.stringify(perfOut, null, 2)}\n`);
await browser.close();
const failed = results.filter((r) => !r.ok);
console.log(`ui tests: ${results.length - failed.length} passed, ${failed.length} failed; screenshots in ${artifacts}`);
process.exit(failed.length ? 1 : 0);
