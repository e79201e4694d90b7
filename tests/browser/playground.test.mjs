// End-to-end test of the www/ playground and of the package's browser entry, in real Chromium.
//
//   node --test tests/browser/playground.test.mjs          (Node 20 or 22)
//
// Needs `make build` (pkg/wasm/*) and Debian's chromium at /usr/bin/chromium (override with
// CHROMIUM_PATH). Never downloads a browser. Screenshots go to tests/.tmp/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer, REPO_ROOT } from '../../www/serve.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const TMP = join(REPO_ROOT, 'tests', '.tmp');
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

const TOKEN = 'tok-SECRET-browser-7f1c';
const PIXEL = 'px-test-123';
const SETTINGS = { pixel_id: PIXEL, snap_app_id: 'snap-app-456', app_id: 'com.example.app', access_token: TOKEN };
const RAW_EMAIL = '  Test.User+Snap@Example.COM ';
const NORMALIZED_EMAIL = 'test.user+snap@example.com';
const RAW_PHONE = '+1 (555) 010-0142';
const sha256 = (s) => createHash('sha256').update(s).digest('hex');

const orderCompleted = {
  type: 'track',
  event: 'Order Completed',
  messageId: 'msg-browser-1',
  timestamp: '2026-11-20T10:15:30.000Z',
  userId: 'user-browser-1',
  properties: {
    order_id: 'ORD-77',
    revenue: 42.5,
    currency: 'usd',
    email: RAW_EMAIL,
    phone: RAW_PHONE,
    products: [
      { product_id: 'sku-1', category: 'Shoes', brand: 'Acme' },
      { product_id: 'sku-2', category: 'Socks', brand: 'Woolly' },
    ],
  },
  context: {
    ip: '203.0.113.9',
    userAgent: 'Mozilla/5.0 (test)',
    page: { url: 'https://shop.example.com/thanks' },
    traits: { first_name: 'Test', last_name: 'User', address: { city: 'Austin', state: 'Texas', country: 'United States' } },
  },
};

// A handful of events that reach different paths: request, hashing variants, errors, skipped.
const PARITY_EVENTS = [
  orderCompleted,
  {
    type: 'page',
    name: 'Home',
    messageId: 'msg-browser-page',
    timestamp: '2026-11-20T10:00:00Z',
    anonymousId: 'anon-1',
    context: { ip: '198.51.100.4', userAgent: 'Mozilla/5.0 (page)', page: { url: 'https://shop.example.com/' } },
  },
  {
    type: 'track',
    event: 'Product Added',
    messageId: 'msg-browser-add',
    timestamp: '2026-11-20T10:01:00Z',
    userId: 'u-2',
    traits: { email: 'ALREADY@EXAMPLE.ORG' },
    properties: { email: sha256('prehashed@example.org'), currency: 'EUR', price: 10, quantity: 3, product_id: 'sku-9' },
  },
  {
    type: 'track',
    event: 'Order Completed',
    messageId: 'msg-browser-badcurrency',
    timestamp: '2026-11-20T10:02:00Z',
    properties: { email: 'x@example.com', currency: 'ZZZ', revenue: 1 },
  },
  {
    type: 'track',
    event: 'Signed Up',
    messageId: 'msg-browser-nopii',
    timestamp: '2026-11-20T10:03:00Z',
    properties: {},
  },
  { type: 'track', event: 'Something Unsubscribed', messageId: 'msg-browser-skip', timestamp: '2026-11-20T10:04:00Z' },
];

const TRANSFORM_CASES = [
  [{ a: { '@path': '$.properties.email' }, b: 'literal' }, orderCompleted],
  [{ t: { '@template': 'Hi {{context.traits.first_name}} ({{properties.order_id}})' } }, orderCompleted],
  [
    { v: { '@if': { exists: { '@path': '$.properties.nope' }, then: 1, else: { '@path': '$.properties.revenue' } } } },
    orderCompleted,
  ],
  [{ ids: { '@arrayPath': ['$.properties.products', { id: { '@path': 'product_id' } }] } }, orderCompleted],
];

const FQL_CASES = [
  ['event = "Order Completed"', orderCompleted],
  ['type = "page"', orderCompleted],
  ['type = "track" and properties.revenue > 40', orderCompleted],
  ['contains(event, "Order") or type = "identify"', orderCompleted],
  ['properties.currency != "usd"', orderCompleted],
];

let server;
let browser;
let node; // the package's Node entry, for parity checks
const pageErrors = [];

function findKey(value, key) {
  if (Array.isArray(value)) {
    for (const v of value) {
      const r = findKey(v, key);
      if (r !== undefined) return r;
    }
  } else if (value && typeof value === 'object') {
    if (key in value) return value[key];
    for (const v of Object.values(value)) {
      const r = findKey(v, key);
      if (r !== undefined) return r;
    }
  }
  return undefined;
}

const asJson = (v) => JSON.parse(JSON.stringify(v));

before(async () => {
  for (const f of ['pkg/browser.js', 'pkg/node.js', 'pkg/wasm/edge_actions_bg.wasm', 'pkg/wasm/edge_actions.js']) {
    assert.ok(existsSync(join(REPO_ROOT, f)), `${f} is missing: run \`make build\` first`);
  }
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  await mkdir(TMP, { recursive: true });
  node = await import(pathToFileURL(join(REPO_ROOT, 'pkg', 'node.js')).href);
  server = await startServer({ port: 0 });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  await server?.close();
});

async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  page.on('console', (msg) => {
    if (msg.type() === 'error') pageErrors.push(`console: ${msg.text()}`);
  });
  // Belt and braces: the page must never reach beyond the local server.
  await context.route('**/*', (route) => {
    const u = new URL(route.request().url());
    if (u.origin === server.origin) return route.continue();
    pageErrors.push(`blocked off-origin request: ${u.href}`);
    return route.abort();
  });
  return page;
}

async function openPlayground() {
  const page = await newPage();
  const wasmResponse = page.waitForResponse((r) => r.url().endsWith('.wasm'));
  await page.goto(server.url);
  await page.waitForSelector('html[data-ready]', { timeout: 30_000 });
  const ready = await page.getAttribute('html', 'data-ready');
  assert.equal(ready, 'true', `playground failed to load: ${await page.textContent('#status')}`);
  const wasm = await wasmResponse;
  assert.equal(wasm.status(), 200);
  assert.equal(wasm.headers()['content-type'], 'application/wasm');
  return page;
}

// Click Plan and wait for the outcome: rendered lines, or the error box. Returns which.
async function clickPlan(page, expect = 'lines') {
  await page.click('#plan');
  await page.waitForSelector('#plan-output article.line, #plan-error:not([hidden])');
  const errorShown = await page.isVisible('#plan-error');
  const outcome = errorShown ? 'error' : 'lines';
  if (expect && outcome !== expect) {
    const detail = errorShown ? await page.textContent('#plan-error') : await page.innerText('#plan-output');
    assert.fail(`expected ${expect} after Plan, got ${outcome}: ${detail}`);
  }
  return outcome;
}

async function clickAndExpectNoError(page, button, errorBox) {
  await page.click(button);
  if (await page.isVisible(errorBox)) assert.fail(`${button}: ${await page.textContent(errorBox)}`);
}

test('serve.mjs: MIME types, index, no path traversal', async () => {
  const get = (p) => fetch(server.origin + p, { redirect: 'manual' });
  let r = await get('/www/');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/html/);
  r = await get('/pkg/wasm/edge_actions_bg.wasm');
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'application/wasm');
  r = await get('/pkg/browser.js');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/javascript/);
  r = await get('/');
  assert.equal(r.status, 302);
  assert.equal(r.headers.get('location'), '/www/');
  for (const p of ['/..%2fetc%2fpasswd', '/www/..%2f..%2fetc%2fpasswd', '/.git/config', '/%2e%2e/%2e%2e/etc/passwd']) {
    r = await get(p);
    assert.ok([403, 404].includes(r.status), `${p} -> ${r.status}`);
  }
  r = await fetch(server.origin + '/www/', { method: 'POST' });
  assert.equal(r.status, 405);
});

test('playground: plan an Order Completed event, PII hashed, token redacted', async () => {
  const page = await openPlayground();
  // The page comes prefilled with a sample: planning it straight away works.
  await clickPlan(page);
  assert.match(await page.textContent('#plan-output'), /\/v3\/px-demo-0001\/events/);

  await page.fill('#event', JSON.stringify(orderCompleted, null, 2));
  await page.fill('#pixel_id', PIXEL);
  await page.fill('#access_token', TOKEN);
  await clickPlan(page);
  await page.waitForSelector('#plan-output article.line.request', { timeout: 2000 });

  const shown = await page.innerText('#plan-output');
  const raw = await page.textContent('#plan-raw');
  assert.match(shown, new RegExp(`/v3/${PIXEL}/events`));
  assert.match(shown, /Purchase/, 'the matched subscription is shown');
  assert.match(shown, /msg-browser-1/);

  // The body, as rendered, parses as JSON and carries em = sha256(normalized email).
  const bodyText = await page.textContent('#plan-output article.line.request pre.body');
  const body = JSON.parse(bodyText);
  const em = findKey(body, 'em');
  const emValue = Array.isArray(em) ? em[0] : em;
  assert.match(String(emValue), /^[0-9a-f]{64}$/);
  assert.equal(emValue, sha256(NORMALIZED_EMAIL));
  const ph = findKey(body, 'ph');
  assert.equal(Array.isArray(ph) ? ph[0] : ph, sha256('15550100142'));
  assert.equal(findKey(body, 'event_name'), 'PURCHASE');

  // No raw PII and no token anywhere in what the page shows (or in its DOM).
  const html = await page.content();
  for (const secret of [RAW_EMAIL.trim(), NORMALIZED_EMAIL, RAW_PHONE, TOKEN]) {
    assert.ok(!shown.includes(secret), `output shows ${secret}`);
    assert.ok(!raw.includes(secret), `raw output shows ${secret}`);
    assert.ok(!html.includes(secret), `DOM contains ${secret}`);
  }
  assert.ok(shown.includes('•••') || raw.includes('•••'), 'the token is shown redacted');

  await page.screenshot({ path: join(TMP, 'playground.png'), fullPage: true });

  // Malformed JSON: a clear error, no crash, and the page still works afterwards.
  await page.fill('#event', '{ "type": "track", "event": "Order Completed", ');
  await clickPlan(page, 'error');
  const err = await page.textContent('#plan-error');
  assert.match(err, /not valid JSON/);
  assert.match(err, /line \d+, column \d+/);
  assert.equal(await page.locator('#plan-output article.line').count(), 0);
  await page.screenshot({ path: join(TMP, 'playground-error.png') });

  await page.fill('#event', '[1, 2]');
  await clickPlan(page, 'error');
  assert.match(await page.textContent('#plan-error'), /must be a JSON object/);

  // An event the destination rejects shows an error line (code, message), not a page error.
  await page.fill('#event', JSON.stringify(PARITY_EVENTS[3]));
  await clickPlan(page);
  await page.waitForSelector('#plan-output article.line.error', { timeout: 2000 });
  assert.ok((await page.textContent('#plan-output .error-message')).length > 0);
  assert.ok((await page.textContent('#plan-output .error-code')).length > 0);

  // Bad subscriptions JSON is reported too.
  await page.fill('#event', JSON.stringify(orderCompleted));
  await page.click('#subs-details summary');
  await page.fill('#subscriptions', '{ nope');
  await clickPlan(page, 'error');
  assert.match(await page.textContent('#plan-error'), /subscriptions is not valid JSON/);
  // ... and a custom subscription is honoured.
  await page.click('#example-subs');
  await clickPlan(page);
  assert.match(await page.innerText('#plan-output'), /Purchase \(custom\)/);
  // "Insert the presets" gives the same plan as no subscriptions at all.
  await page.click('#load-presets');
  assert.match(await page.inputValue('#subscriptions'), /"Purchase"/);
  await clickPlan(page);
  const withPresets = await page.textContent('#plan-raw');
  await page.click('#clear-subs');
  assert.equal(await page.inputValue('#subscriptions'), '');
  await clickPlan(page);
  assert.equal(await page.textContent('#plan-raw'), withPresets);

  assert.deepEqual(pageErrors, []);
  await page.context().close();
});

test('playground: mapping-kit and FQL tabs', async () => {
  const page = await openPlayground();
  await page.click('#tab-mapping');
  assert.equal(await page.isVisible('#panel-mapping'), true);
  assert.equal(await page.isHidden('#panel-destination'), true);
  await clickAndExpectNoError(page, '#transform', '#mapping-error');
  const out = JSON.parse(await page.textContent('#mapping-output'));
  assert.equal(out.email, 'jane.doe@example.com');
  assert.equal(out.event_name, 'PURCHASE');
  assert.equal(out.greeting, 'Thanks, Jane!');
  assert.deepEqual(out.items, [
    { item_id: 'sku-shoe-1', brand: 'Acme' },
    { item_id: 'sku-sock-7', brand: 'Woolly' },
  ]);
  await page.fill('#payload', 'not json');
  await page.click('#transform');
  assert.match(await page.textContent('#mapping-error'), /payload is not valid JSON/);

  // Keyboard: ArrowRight moves from the mapping tab to the FQL tab.
  await page.focus('#tab-mapping');
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.getAttribute('#tab-fql', 'aria-selected'), 'true');
  await clickAndExpectNoError(page, '#match', '#fql-error');
  assert.match(await page.textContent('#fql-output'), /^true/);
  await page.fill('#fql', 'event = "Something Else"');
  await clickAndExpectNoError(page, '#match', '#fql-error');
  assert.match(await page.textContent('#fql-output'), /^false/);
  await page.screenshot({ path: join(TMP, 'playground-fql.png') });

  assert.deepEqual(pageErrors, []);
  await page.context().close();
});

test('browser entry: init() contract, and plan/transform/matchesTrigger identical to the Node entry', async () => {
  const page = await newPage();
  // A same-origin page that has not loaded the package yet.
  await page.goto(server.origin + '/pkg/wasm/edge_actions.js');
  const result = await page.evaluate(
    async ({ settings, events, transformCases, fqlCases }) => {
      const m = await import('/pkg/browser.js');
      let beforeInit = null;
      try {
        m.createDestination({ destination: 'snap-conversions-api', settings }).plan(events);
        beforeInit = 'no error';
      } catch (e) {
        beforeInit = String(e && e.message ? e.message : e);
      }
      await m.init();
      await m.init(); // a second call must be harmless
      const lines = m.createDestination({ destination: 'snap-conversions-api', settings }).plan(events);
      const transforms = transformCases.map(([mapping, payload]) => m.transform(mapping, payload));
      const fql = fqlCases.map(([q, e]) => m.matchesTrigger(q, e));
      return JSON.stringify({ beforeInit, lines, transforms, fql });
    },
    { settings: SETTINGS, events: PARITY_EVENTS, transformCases: TRANSFORM_CASES, fqlCases: FQL_CASES },
  );
  const fromBrowser = JSON.parse(result);
  assert.match(fromBrowser.beforeInit, /init\(\)/, `calling before init() must say so, got: ${fromBrowser.beforeInit}`);

  const nodeLines = node.createDestination({ destination: 'snap-conversions-api', settings: SETTINGS }).plan(PARITY_EVENTS);
  assert.equal(fromBrowser.lines.length, PARITY_EVENTS.length);
  assert.deepEqual(fromBrowser.lines, asJson(nodeLines));
  // Sanity: the lines are not trivially equal (e.g. Maps serialised to {}).
  const first = fromBrowser.lines[0];
  assert.ok(first.request, 'first event yields a request');
  assert.match(first.request.url, new RegExp(`/v3/${PIXEL}/events`));
  assert.ok(JSON.stringify(first.request.body).includes(sha256(NORMALIZED_EMAIL)));
  const kinds = fromBrowser.lines.map((l) => (l.request ? 'request' : l.error ? 'error' : 'skipped' in l ? 'skipped' : '?'));
  assert.deepEqual(kinds, ['request', 'request', 'request', 'error', 'error', 'skipped']);

  assert.deepEqual(fromBrowser.transforms, asJson(TRANSFORM_CASES.map(([m, p]) => node.transform(m, p))));
  assert.deepEqual(fromBrowser.fql, FQL_CASES.map(([q, e]) => node.matchesTrigger(q, e)));
  assert.deepEqual(fromBrowser.fql, [true, false, true, true, false]);

  assert.deepEqual(pageErrors, []);
  await page.context().close();
});
