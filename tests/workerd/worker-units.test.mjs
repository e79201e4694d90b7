// Unit tests for the ready-made Worker's pure parts (no workerd needed, but Node >= 22 like the
// rest of tests/workerd): retry delays, the batch-signature scanner, click id parsing and filling.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { retryDelaySeconds, loadConfig, WorkerConfigError } from '../../pkg/worker-config.js'
import { makeAuthenticator, eventsOf, parseJson, HttpError } from '../../pkg/worker-inbound.js'
import { clickIdFromUrl, fillClickIds, parseCookies } from '../../pkg/worker-clickids.js'

test('retry delays: Retry-After wins, else doubling backoff, half of it random, capped', () => {
  const q = { retryBaseSeconds: 30, retryMaxSeconds: 3600 }
  assert.equal(retryDelaySeconds(1, 1500, q), 2)
  assert.equal(retryDelaySeconds(5, 7000, q), 7)
  assert.equal(retryDelaySeconds(1, 90_000_000, q), 86400, 'never over the 24 h queue maximum')
  assert.deepEqual([1, 2, 3, 4].map((a) => retryDelaySeconds(a, undefined, q, 0)), [15, 30, 60, 120])
  assert.deepEqual([1, 2, 3, 4].map((a) => retryDelaySeconds(a, undefined, q, 1)), [30, 60, 120, 240])
  assert.equal(retryDelaySeconds(12, undefined, q, 1), 3600)
  assert.equal(retryDelaySeconds(12, undefined, q, 0), 1800)
  assert.equal(retryDelaySeconds(3, undefined, { retryBaseSeconds: 0, retryMaxSeconds: 0 }), 0)
})

const SECRET = 'unit-shared-secret-0123456789'
const TOKEN = 'unit-bearer-token-0123456789'
const sig = (s) => createHmac('sha1', SECRET).update(s).digest('hex')
const bytes = (s) => new TextEncoder().encode(s)
const req = (headers) => new Request('http://w/events', { method: 'POST', headers })

test('authentication: whole body, first batch element (strings with brackets, escapes, whitespace), bearer', async () => {
  const auth = makeAuthenticator({ sharedSecret: SECRET, apiToken: TOKEN })
  const first = { a: 'x],[}{"', b: ['\\', '"', { c: ',' }], n: -1.5e3 }
  const raw = `[${JSON.stringify(first)},{"z":1}]`
  assert.equal(await auth(req({ 'x-signature': sig(raw) }), bytes(raw)), 'signature')
  assert.equal(await auth(req({ 'x-signature': sig(JSON.stringify(first)) }), bytes(raw)), 'signature-first-event')
  assert.equal(await auth(req({ 'x-signature': sig(JSON.stringify(first)).toUpperCase() }), bytes(raw)), 'signature-first-event')
  const spaced = ` [ ${JSON.stringify(first)} , {"z":1} ] `
  assert.equal(await auth(req({ 'x-signature': sig(JSON.stringify(first)) }), bytes(spaced)), 'signature-first-event')
  const single = `[${JSON.stringify(first)}]`
  assert.equal(await auth(req({ 'x-signature': sig(JSON.stringify(first)) }), bytes(single)), 'signature-first-event')
  assert.equal(await auth(req({ authorization: `Bearer ${TOKEN}` }), bytes(raw)), 'bearer')
  assert.equal(await auth(req({ authorization: `bearer   ${TOKEN}` }), bytes(raw)), 'bearer')
  for (const headers of [
    { 'x-signature': sig('{"z":1}') }, // the second element is not what is signed
    { 'x-signature': sig(JSON.stringify(first)).slice(2) },
    { 'x-signature': '' },
    { authorization: `Bearer ${TOKEN}x` },
    { authorization: TOKEN },
    {}
  ]) {
    await assert.rejects(auth(req(headers), bytes(raw)), (e) => e instanceof HttpError && e.status === 401, JSON.stringify(headers))
  }
  // With batchSignature "whole-body" the first-event form is refused.
  const strict = makeAuthenticator({ sharedSecret: SECRET, batchSignature: 'whole-body' })
  assert.equal(await strict(req({ 'x-signature': sig(raw) }), bytes(raw)), 'signature')
  await assert.rejects(strict(req({ 'x-signature': sig(JSON.stringify(first)) }), bytes(raw)), (e) => e.status === 401)
  // Only the configured mechanisms count.
  const sigOnly = makeAuthenticator({ sharedSecret: SECRET })
  await assert.rejects(sigOnly(req({ authorization: `Bearer ${TOKEN}` }), bytes(raw)), /X-Signature/)
})

test('event shapes', () => {
  assert.deepEqual(eventsOf({ type: 'track' }, 10), [{ type: 'track' }])
  assert.deepEqual(eventsOf([{ type: 'track' }, 1], 10), [{ type: 'track' }, 1])
  assert.deepEqual(eventsOf({ batch: [{ type: 'track', context: { ip: '2' } }, { type: 'page' }], context: { ip: '1' }, integrations: { All: false } }, 10), [
    { type: 'track', context: { ip: '2' }, integrations: { All: false } },
    { type: 'page', context: { ip: '1' }, integrations: { All: false } }
  ])
  assert.throws(() => eventsOf([1, 2, 3], 2), (e) => e.status === 413 && /at most 2/.test(e.message))
  assert.throws(() => parseJson(new Uint8Array([0xff, 0xfe])), (e) => e.status === 400 && /UTF-8/.test(e.message))
})

test('click ids: parsing and filling', async () => {
  assert.equal(clickIdFromUrl('https://s.example/?a=1&ScCid=abc-1'), 'abc-1')
  assert.equal(clickIdFromUrl('https://s.example/?sccid=abc-2'), 'abc-2')
  assert.equal(clickIdFromUrl('?ScCid=abc-3'), 'abc-3')
  assert.equal(clickIdFromUrl('https://s.example/?ScCid=bad%3Bvalue'), undefined)
  assert.equal(clickIdFromUrl('not a url'), undefined)
  assert.deepEqual(parseCookies('a=1; ajs_anonymous_id=%22x%22; a=2; junk'), { a: '1', ajs_anonymous_id: '"x"' })
  const store = new Map([['clk:a:anon', JSON.stringify({ click_id: 'kv-click', uuid_c1: 'kv-cookie' })], ['clk:u:user', JSON.stringify({ uuid_c1: 'user-cookie' })]])
  const kv = { get: async (k) => store.get(k) ?? null }
  const events = [
    { anonymousId: 'anon' },
    { anonymousId: 'nobody', userId: 'user', context: { page: { url: 'https://s.example/?ScCid=page-click' } } },
    { anonymousId: 'anon', integrations: { 'Snap Conversions Api': false } },
    { anonymousId: 'anon', integrations: { 'Snap Conversions Api': { click_id: 'own', uuid_c1: 'own-c' } } },
    'not an event',
    { anonymousId: 'anon', context: { page: { url: 'https://s.example/?ScCid=newer-click' } } }
  ]
  assert.equal(await fillClickIds(events, kv), 3)
  assert.deepEqual(events[5].integrations, { 'Snap Conversions Api': { click_id: 'newer-click', uuid_c1: 'kv-cookie' } }, 'the page URL beats an older click in KV')
  assert.deepEqual(events[0].integrations, { 'Snap Conversions Api': { click_id: 'kv-click', uuid_c1: 'kv-cookie' } })
  assert.deepEqual(events[1].integrations, { 'Snap Conversions Api': { click_id: 'page-click', uuid_c1: 'user-cookie' } })
  assert.deepEqual(events[2].integrations, { 'Snap Conversions Api': false })
  assert.deepEqual(events[3].integrations, { 'Snap Conversions Api': { click_id: 'own', uuid_c1: 'own-c' } })
  // Without KV, only the page URL helps.
  const noKv = [{ anonymousId: 'anon', context: { page: { search: '?ScCid=s1' } } }]
  await fillClickIds(noKv, undefined)
  assert.deepEqual(noKv[0].integrations, { 'Snap Conversions Api': { click_id: 's1' } })
})

test('configuration: secrets merged by name, defaults, errors name the setting', () => {
  const made = []
  const create = (o) => (made.push(o), { o })
  const env = {
    EDGE_ACTIONS_CONFIG: { destinations: [{ destination: 'snap-conversions-api', settings: { pixel_id: 'p', batch_size: 10 }, secrets: { access_token: 'SNAP' } }] },
    SNAP: 'the-token',
    EDGE_ACTIONS_API_TOKEN: TOKEN,
    EDGE_ACTIONS_BASE_URL: 'http://127.0.0.1:1234/'
  }
  const cfg = loadConfig(env, create)
  assert.deepEqual(made, [{ destination: 'snap-conversions-api', settings: { pixel_id: 'p', batch_size: 10, access_token: 'the-token' }, baseUrl: 'http://127.0.0.1:1234' }])
  assert.equal(cfg.destinations[0].name, 'snap-conversions-api')
  assert.equal(cfg.destinations[0].batchSize, 10)
  assert.equal(cfg.delivery.concurrency, 6)
  assert.equal(cfg.queueBinding, undefined)
  const err = (change) => {
    const e2 = structuredClone(env)
    change(e2)
    try {
      loadConfig(e2, create)
    } catch (e) {
      assert.ok(e instanceof WorkerConfigError)
      return e.setting
    }
    assert.fail('no error')
  }
  assert.equal(err((e) => { e.EDGE_ACTIONS_CONFIG.destinations[0].settings.api_key = 'k' }), 'EDGE_ACTIONS_CONFIG.destinations[0].settings.api_key')
  assert.equal(err((e) => { e.EDGE_ACTIONS_CONFIG.destinations.push({ destination: 'snap-conversions-api' }) }), 'EDGE_ACTIONS_CONFIG.destinations[1].name')
  assert.equal(err((e) => { e.EDGE_ACTIONS_CONFIG.queue = { retryBaseSeconds: -1 } }), 'EDGE_ACTIONS_CONFIG.queue.retryBaseSeconds')
  assert.equal(err((e) => { e.EDGE_ACTIONS_CONFIG.clickIds = { cookieDomain: 'a; b' } }), 'EDGE_ACTIONS_CONFIG.clickIds.cookieDomain')
  assert.equal(err((e) => { e.EDGE_ACTIONS_API_TOKEN = 'short' }), 'EDGE_ACTIONS_API_TOKEN')
  assert.equal(err((e) => { e.EDGE_ACTIONS_QUEUE = 'not a queue' }), 'EDGE_ACTIONS_QUEUE')
  assert.equal(err((e) => { e.EDGE_ACTIONS_CONFIG.inbound = { batchSignature: 'all' } }), 'EDGE_ACTIONS_CONFIG.inbound.batchSignature')
})
