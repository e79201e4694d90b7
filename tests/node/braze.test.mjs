// Braze through the npm package against a local mock Braze server: requests and auth as Braze
// expects them, per-event results for 401 / 429 (X-RateLimit-* headers, no Retry-After) / 5xx,
// partial success from `errors[].index`, batching by Braze's object count, alias -> identify
// ordering, and the API key never in any output.
import { test, describe, before, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'

import { mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

import { startMockBraze, brazeErrors } from '../support/mock-braze.mjs'
import { loadPkg, pkgAvailable, PKG_MISSING_REASON } from '../support/load-pkg.mjs'
import { runCli } from '../support/cli.mjs'

const skip = pkgAvailable() ? false : PKG_MISSING_REASON
const KEY = 'braze-SECRET-key-0042'
const SEND = { baseDelayMs: 10, maxDelayMs: 50, maxAttempts: 3 }

const identify = (id) => ({
  type: 'identify', messageId: id, userId: 'user-1', receivedAt: '2024-03-05T12:35:00.000Z',
  traits: { email: 'jane@example.com', firstName: 'Jane', plan: 'pro' }
})
const track = (id, event = 'Song Played') => ({
  type: 'track', event, messageId: id, userId: 'user-1', receivedAt: '2024-03-05T12:35:00.000Z', properties: { plan: 'pro' }
})
const order = (id, n) => ({
  type: 'track', event: 'Order Completed', messageId: id, userId: 'user-1', receivedAt: '2024-03-05T12:35:00.000Z',
  properties: { products: Array.from({ length: n }, (_, i) => ({ product_id: `SKU-${i}`, price: 10, quantity: 1 })) }
})

// Every action reachable: purchases as trackPurchase (one object per product).
const SUBSCRIPTIONS = [
  { name: 'Identify Calls', subscribe: 'type = "identify"', partnerAction: 'updateUserProfile' },
  { name: 'Track Calls', subscribe: 'type = "track" and event != "Order Completed"', partnerAction: 'trackEvent' },
  { name: 'Purchases', subscribe: 'event = "Order Completed"', partnerAction: 'trackPurchase' },
  {
    name: 'Alias', subscribe: 'type = "alias"', partnerAction: 'createAlias',
    mapping: { external_id: { '@path': '$.userId' }, alias_name: { '@path': '$.previousId' }, alias_label: 'anonymous_id' }
  },
  {
    name: 'Identify alias', subscribe: 'type = "alias"', partnerAction: 'identifyUser',
    mapping: { external_id: { '@path': '$.userId' }, user_alias: { alias_name: { '@path': '$.previousId' }, alias_label: 'anonymous_id' } }
  }
]

let pkg, mock
const dest = (settings = {}) =>
  pkg.createDestination({ destination: 'braze', settings: { api_key: KEY, ...settings }, subscriptions: SUBSCRIPTIONS, baseUrl: mock.url })
const noKey = (v) => assert.ok(!JSON.stringify(v).includes(KEY), 'the API key leaked')

describe('Braze through the npm package', { skip }, () => {
  before(async () => {
    pkg = await loadPkg()
    mock = await startMockBraze()
  })
  after(() => mock?.close())
  beforeEach(() => mock.reset())

  test('requests reach Braze with its path, auth header and bodies', async () => {
    const results = await dest({ app_id: 'app-1' }).send([identify('i1'), track('t1'), order('o1', 2)], SEND)
    noKey(results)
    assert.deepEqual(results.map((r) => [r.messageId, r.delivered, r.status]), [['i1', true, 201], ['t1', true, 201], ['o1', true, 201]])
    assert.equal(mock.requests.length, 3)
    for (const r of mock.requests) {
      assert.equal(r.method, 'POST')
      assert.equal(r.pathname, '/users/track')
      assert.equal(r.headers.authorization, `Bearer ${KEY}`)
      assert.equal(r.headers['content-type'], 'application/json')
    }
    assert.deepEqual(mock.requests[0].json, { attributes: [{ plan: 'pro', external_id: 'user-1', email: 'jane@example.com', first_name: 'Jane', _update_existing_only: false }] })
    assert.deepEqual(mock.requests[1].json, {
      events: [{ external_id: 'user-1', app_id: 'app-1', name: 'Song Played', time: '2024-03-05T12:35:00.000Z', properties: { plan: 'pro' }, _update_existing_only: false }]
    })
    assert.deepEqual(mock.requests[2].json.purchases.map((p) => [p.product_id, p.currency, p.price]), [['SKU-0', 'USD', 10], ['SKU-1', 'USD', 10]])
  })

  test('the plan shows the request with the key redacted', () => {
    const lines = dest().plan([track('p1')])
    noKey(lines)
    assert.equal(lines[0].request.url, `${mock.url}/users/track`)
    assert.equal(lines[0].request.headers.authorization, 'Bearer REDACTED')
  })

  test('a wrong key (401) is a permanent auth error on every event, not retried', async () => {
    mock.setDefault({ status: 401, body: { message: `Invalid API Key: ${KEY}` } })
    const results = await dest({ batch_size: 10 }).send([track('a1'), track('a2'), identify('a3')], SEND)
    noKey(results)
    assert.equal(mock.requests.length, 1, 'one batched request, no retry')
    for (const r of results) {
      assert.deepEqual([r.delivered, r.status, r.attempts, r.error.code, r.error.retryable], [false, 401, 1, 'HTTP_ERROR', false])
      assert.match(r.error.message, /^HTTP 401: Invalid API Key: REDACTED$/)
    }
  })

  test('429 without Retry-After waits for X-RateLimit-Reset, then delivers', async () => {
    const reset = Math.ceil(Date.now() / 1000) + 1
    mock.enqueue({ status: 429, headers: { 'x-ratelimit-limit': '3000', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) }, body: { message: 'rate limited' } })
    const results = await dest().send([track('r1')], SEND)
    assert.deepEqual([results[0].delivered, results[0].attempts], [true, 2])
    const [first, second] = mock.requests
    // Backoff alone would retry within 50 ms; the reset time is honoured.
    assert.ok(second.receivedAt >= reset * 1000 - 50, `retried ${second.receivedAt - first.receivedAt} ms after the 429, before the window reset`)
  })

  test('a 429 whose window resets beyond maxRetryAfterMs fails retryable with the delay for the caller', async () => {
    mock.setDefault({ status: 429, headers: { 'x-ratelimit-retry-after': '120' }, body: { message: 'rate limited' } })
    const results = await dest().send([track('q1')], { ...SEND, maxRetryAfterMs: 1000 })
    assert.deepEqual([results[0].delivered, results[0].error.retryable, results[0].error.retryAfterMs], [false, true, 120000])
    assert.equal(mock.requests.length, 1)
  })

  test('5xx is retried with backoff; 501 is not', async () => {
    mock.enqueue({ status: 503, body: { message: 'unavailable' } }, { status: 502, body: {} })
    let results = await dest().send([track('s1')], SEND)
    assert.deepEqual([results[0].delivered, results[0].attempts], [true, 3])
    mock.reset()
    mock.setDefault({ status: 501, body: { message: 'no' } })
    results = await dest().send([track('s2')], SEND)
    assert.deepEqual([results[0].delivered, results[0].attempts, results[0].error.retryable], [false, 1, false])
  })

  test('errors[].index in a 2xx answer fails only the events that own those objects', async () => {
    // One request: attributes[0] = i1, events[0] = t1, purchases[0..2] = o1, events[1] = t2.
    mock.enqueue(brazeErrors(['purchases', 1, "'price' must be a number"], ['events', 1, "'name' is invalid"]))
    const results = await dest({ batch_size: 75 }).send([identify('i1'), track('t1'), order('o1', 3), track('t2')], SEND)
    assert.equal(mock.requests.length, 1)
    assert.deepEqual(Object.keys(mock.requests[0].json), ['attributes', 'events', 'purchases'])
    assert.deepEqual(results.map((r) => [r.messageId, r.delivered]), [['i1', true], ['t1', true], ['o1', false], ['t2', false]])
    assert.equal(results[2].error.message, "object rejected: 'price' must be a number")
    assert.equal(results[3].error.retryable, false)
  })

  test('requests pack 75 objects, purchases counted per product', async () => {
    const events = [...Array.from({ length: 74 }, (_, i) => track(`b${i}`)), order('big', 3), track('last')]
    const results = await dest({ batch_size: 75 }).send(events, SEND)
    assert.ok(results.every((r) => r.delivered))
    const sizes = mock.requests.map((r) => Object.values(r.json).reduce((n, a) => n + a.length, 0))
    assert.deepEqual(sizes, [74, 4])
  })

  test('alias then identify: /users/alias/new is answered before /users/identify is sent', async () => {
    mock.enqueue('/users/alias/new', { status: 201, body: { message: 'success' }, delayMs: 100 })
    const results = await dest().send([{ type: 'alias', messageId: 'al1', userId: 'user-1', previousId: 'anon-1' }], { ...SEND, concurrency: 8 })
    assert.ok(results.every((r) => r.delivered), JSON.stringify(results))
    assert.deepEqual(mock.requests.map((r) => r.pathname), ['/users/alias/new', '/users/identify'])
    assert.ok(mock.requests[1].receivedAt >= mock.requests[0].receivedAt + 90, 'identify waited for the alias answer')
    assert.deepEqual(mock.requests[1].json, { aliases_to_identify: [{ external_id: 'user-1', user_alias: { alias_name: 'anon-1', alias_label: 'anonymous_id' } }] })
  })

  test('bad settings are configuration errors naming the field', () => {
    assert.throws(() => pkg.createDestination({ destination: 'braze', settings: {} }), (e) => e.code === 'INVALID_CONFIG' && e.field === 'settings.api_key')
    assert.throws(
      () => pkg.createDestination({ destination: 'actions-braze-cloud', settings: { api_key: KEY, endpoint: 'ftp://x' } }),
      (e) => e.field === 'settings.endpoint' && !e.message.includes(KEY)
    )
  })

  test('catalog items go out as PUT and DELETE', async () => {
    const mapping = (mode) => ({ __segment_internal_sync_mode: mode, onMappingSave: { outputs: { catalog_name: 'products' } }, item_id: { '@path': '$.properties.sku' }, item: { name: { '@path': '$.properties.name' } } })
    const d = pkg.createDestination({
      destination: 'braze', settings: { api_key: KEY }, baseUrl: mock.url,
      subscriptions: [
        { name: 'Upsert', subscribe: 'event = "Product Updated"', partnerAction: 'upsertCatalogItem', mapping: mapping('upsert') },
        { name: 'Delete', subscribe: 'event = "Product Removed"', partnerAction: 'upsertCatalogItem', mapping: mapping('delete') }
      ]
    })
    const ev = (event, id) => ({ type: 'track', event, messageId: id, properties: { sku: `SKU-${id}`, name: 'Shoe' } })
    const results = await d.send([ev('Product Updated', 'u1'), ev('Product Removed', 'd1')], SEND)
    assert.ok(results.every((r) => r.delivered), JSON.stringify(results))
    assert.deepEqual(mock.requests.map((r) => [r.method, r.pathname, r.json]), [
      ['PUT', '/catalogs/products/items/SKU-u1', { items: [{ name: 'Shoe' }] }],
      ['DELETE', '/catalogs/products/items/SKU-d1', { items: [{ name: 'Shoe' }] }]
    ])
  })

  // Concurrent requests for one item would leave Braze in whichever state landed last (a slow
  // PUT after a quick DELETE): only the item's latest write goes, and every event of it gets
  // that request's result.
  for (const batchSize of [1, 50]) {
    test(`an upsert and a delete of one catalog item: only the latest goes (batch_size ${batchSize})`, async () => {
      const mapping = (mode) => ({ __segment_internal_sync_mode: mode, onMappingSave: { outputs: { catalog_name: 'products' } }, item_id: { '@path': '$.properties.sku' }, item: { price: { '@path': '$.properties.price' } } })
      const d = pkg.createDestination({
        destination: 'braze', settings: { api_key: KEY, batch_size: batchSize }, baseUrl: mock.url,
        subscriptions: [
          { name: 'Upsert', subscribe: 'event = "Product Updated"', partnerAction: 'upsertCatalogItem', mapping: mapping('upsert') },
          { name: 'Delete', subscribe: 'event = "Product Removed"', partnerAction: 'upsertCatalogItem', mapping: mapping('delete') }
        ]
      })
      const put = (id, sku, price) => ({ type: 'track', event: 'Product Updated', messageId: id, properties: { sku, price } })
      const del = (id, sku) => ({ type: 'track', event: 'Product Removed', messageId: id, properties: { sku } })
      // The item's request answers slowly and fails once (retried): a PUT sent beside it would land first.
      const item = batchSize === 1 ? '/catalogs/products/items/SKU-1' : '/catalogs/products/items/'
      mock.enqueue(item, { status: 503, delayMs: 50, body: { message: 'busy' } })
      const results = await d.send([put('u1', 'SKU-1', 10), put('u2', 'SKU-2', 20), del('d1', 'SKU-1'), put('u3', 'SKU-1', 12), del('d2', 'SKU-1')], { ...SEND, concurrency: 8 })
      const seen = mock.requests.map((r) => [r.method, r.pathname, r.json])
      const deleteSku1 = batchSize === 1 ? ['DELETE', item, { items: [{}] }] : ['DELETE', item, { items: [{ id: 'SKU-1' }] }]
      const putSku2 = batchSize === 1 ? ['PUT', '/catalogs/products/items/SKU-2', { items: [{ price: 20 }] }] : ['PUT', item, { items: [{ price: 20, id: 'SKU-2' }] }]
      assert.deepEqual(seen.filter((r) => r[0] === 'DELETE'), [deleteSku1, deleteSku1], 'the DELETE, retried once')
      assert.deepEqual(seen.filter((r) => r[0] === 'PUT'), [putSku2], 'no PUT of SKU-1 at all')
      assert.deepEqual(results.map((r) => [r.messageId, r.delivered, r.attempts, r.status]), [
        ['u1', true, 2, 201], ['u2', true, 1, 201], ['d1', true, 2, 201], ['u3', true, 2, 201], ['d2', true, 2, 201]
      ])
      const plan = d.plan([put('u1', 'SKU-1', 10), del('d1', 'SKU-1')])
      assert.deepEqual([plan[0].messageIds, plan[0].request.method, plan[1].batchedWith], [['u1', 'd1'], 'DELETE', 'u1'])
      d.free()
    })
  }

  test('the CLI plans and sends Braze events (presets by default), key never printed', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'braze-cli-'))
    try {
      const settings = path.join(dir, 'settings.json')
      writeFileSync(settings, JSON.stringify({ api_key: KEY, app_id: 'app-1' }))
      const events = path.join(dir, 'events.ndjson')
      writeFileSync(events, [identify('c1'), track('c2'), { type: 'page', messageId: 'c3' }].map((e) => JSON.stringify(e)).join('\n') + '\n')
      const plan = await runCli(['plan', '--destination', 'actions-braze-cloud', '--settings', settings, events])
      assert.equal(plan.code, 0, plan.stderr)
      noKey(plan.stdout + plan.stderr)
      assert.deepEqual(plan.lines.map((l) => [l.messageId, l.subscription ?? l.skipped]), [['c1', 'Identify Calls'], ['c2', 'Track Calls'], ['c3', 'no matching subscription']])
      assert.equal(plan.lines[0].request.url, 'https://rest.iad-01.braze.com/users/track')
      const sent = await runCli(['send', '--destination', 'braze', '--settings', settings, '--base-url', mock.url, events])
      noKey(sent.stdout + sent.stderr)
      assert.deepEqual(sent.lines.filter((l) => l.delivered).map((l) => l.messageId), ['c1', 'c2'])
      assert.deepEqual(mock.requests.map((r) => r.pathname), ['/users/track', '/users/track'])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
