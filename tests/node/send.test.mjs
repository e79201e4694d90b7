// dest.send() / dest.plan() against a local mock of tr.snapchat.com.
//   node --test tests/node/send.test.mjs
import { test, describe, before, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'

import { startMockSnap, closedPortUrl, snapInvalid } from '../support/mock-snap.mjs'
import { loadPkg, pkgAvailable, PKG_MISSING_REASON } from '../support/load-pkg.mjs'
import { snapDefaultMapping } from '../support/segment-reference.mjs'
import {
  sha256,
  TOKEN,
  SETTINGS,
  DESTINATION,
  ORDER_COMPLETED,
  ORDER_COMPLETED_SNAP_EVENT,
  RAW_PII,
  NORMALIZED_PII,
  webEvent,
  appEvent,
  appSubscription
} from '../support/fixtures.mjs'

const skip = pkgAvailable() ? false : PKG_MISSING_REASON
const clone = (v) => structuredClone(v)

let pkg
let mock

// Each describe gets a fresh mock server (a closed one from an earlier block is replaced).
function useMockSnap() {
  before(async () => {
    pkg = await loadPkg()
    mock = mock?.server?.listening ? mock : await startMockSnap()
  })
  after(async () => {
    await mock?.close()
  })
  beforeEach(() => mock.reset())
}

async function make(opts = {}) {
  return pkg.createDestination({ destination: DESTINATION, settings: { ...SETTINGS }, baseUrl: mock.url, ...opts })
}

const subName = (l) => (typeof l.subscription === 'string' ? l.subscription : l.subscription?.name)
const byMessageId = (lines, id) => lines.filter((l) => l.messageId === id)
const one = (lines, id) => {
  const ls = byMessageId(lines, id)
  assert.equal(ls.length, 1, `expected exactly one line for ${id}, got ${JSON.stringify(ls)}`)
  return ls[0]
}
const snapEvents = (reqs) => reqs.flatMap((r) => r.json?.data ?? [])

describe('send() against the mock Snap server', { skip }, () => {
  useMockSnap()

  test('success: one Order Completed -> one POST /v3/px-123/events in Snap v3 format', async () => {
    const dest = await make()
    const results = await dest.send([clone(ORDER_COMPLETED)])
    assert.equal(results.length, 1, JSON.stringify(results))
    const r = results[0]
    assert.equal(r.messageId, 'msg-order-1')
    assert.equal(subName(r), 'Purchase')
    assert.equal(r.delivered, true, JSON.stringify(r))
    assert.equal(r.attempts, 1)
    assert.equal(r.status, 200)
    assert.equal(r.error, undefined)

    assert.equal(mock.requests.length, 1)
    const req = mock.requests[0]
    assert.equal(req.method, 'POST')
    assert.equal(req.pathname, '/v3/px-123/events')
    assert.equal(req.query.access_token, TOKEN, 'the real token must be on the wire')
    assert.deepEqual(Object.keys(req.query), ['access_token'])
    // exactly Segment's URL shape: /v3/{pixel_id}/events?access_token=TOKEN
    assert.equal(req.url, `/v3/px-123/events?access_token=${TOKEN}`, 'request target on the wire')
    // and the same URL plan() shows, token aside
    const planned = dest.plan([clone(ORDER_COMPLETED)])[0].request.url
    assert.equal(planned, `${mock.url}/v3/px-123/events?access_token=REDACTED`)
    assert.match(String(req.headers['content-type']), /^application\/json\b/)
    assert.equal(req.jsonError, undefined, 'body must be JSON')

    const body = req.json
    assert.deepEqual(Object.keys(body), ['data'])
    assert.equal(body.data.length, 1)
    const ev = body.data[0]
    const exp = ORDER_COMPLETED_SNAP_EVENT
    // field by field, so a failure names the field
    for (const k of ['integration', 'event_id', 'event_name', 'event_source_url', 'event_time', 'action_source']) {
      assert.deepEqual(ev[k], exp[k], `data[0].${k}`)
    }
    assert.equal(ev.user_data.em[0], sha256('jane.doe@example.com'), 'user_data.em[0] = sha256(trimmed lower-case email)')
    for (const k of Object.keys(exp.user_data)) assert.deepEqual(ev.user_data[k], exp.user_data[k], `data[0].user_data.${k}`)
    for (const k of Object.keys(exp.custom_data)) assert.deepEqual(ev.custom_data[k], exp.custom_data[k], `data[0].custom_data.${k}`)
    assert.deepEqual(ev, exp, 'whole Snap event')
    assert.equal(ev.app_data, undefined, 'no app_data for website events')
  })

  test('no raw PII reaches the server (url, headers, body)', async () => {
    const dest = await make()
    await dest.send([clone(ORDER_COMPLETED)])
    assert.equal(mock.requests.length, 1)
    const req = mock.requests[0]
    // Remove the digests first: they are hex and cannot be PII, but a short PII string might
    // occur inside one by chance.
    const wire = [req.url, JSON.stringify(req.headers), req.rawBody].join('\n').replace(/[0-9a-f]{64}/gi, '<sha256>')
    for (const pii of [...RAW_PII, ...NORMALIZED_PII]) {
      const needle = pii.trim().toLowerCase()
      assert.ok(!wire.toLowerCase().includes(needle), `raw PII ${JSON.stringify(pii)} found on the wire`)
    }
    // IP and user agent are sent unhashed on purpose (Snap requires them raw)
    assert.ok(req.rawBody.includes('203.0.113.7'))
  })

  test('400 is permanent: 1 attempt, not delivered, retryable false', async () => {
    mock.enqueue('/v3/px-123/events', { status: 400, body: snapInvalid('Unhashed PII') })
    const dest = await make()
    const [r] = await dest.send([clone(ORDER_COMPLETED)], { maxAttempts: 5 })
    assert.equal(r.delivered, false, JSON.stringify(r))
    assert.equal(r.attempts, 1)
    assert.equal(r.status, 400)
    assert.equal(r.error?.retryable, false)
    assert.equal(mock.requests.length, 1)
  })

  test('429 with Retry-After: 1 then 200: delivered on attempt 2, at least ~1 s later', async () => {
    mock.enqueue('/v3/px-123/events', { status: 429, headers: { 'retry-after': '1' }, body: { status: 'INVALID', reason: 'rate limited' } })
    const dest = await make()
    const [r] = await dest.send([clone(ORDER_COMPLETED)], { maxAttempts: 3 })
    assert.equal(r.delivered, true, JSON.stringify(r))
    assert.equal(r.attempts, 2)
    assert.equal(r.status, 200)
    assert.equal(mock.requests.length, 2)
    const gap = mock.requests[1].receivedAt - mock.requests[0].receivedAt
    assert.ok(gap >= 950, `second attempt came ${gap} ms after the first; Retry-After: 1 asks for >= 1000 ms`)
    assert.deepEqual(mock.requests[1].json, mock.requests[0].json, 'the retry sends the same body')
  })

  test('500 then 200: delivered on attempt 2', async () => {
    mock.enqueue('/v3/px-123/events', { status: 500 })
    const dest = await make()
    const [r] = await dest.send([clone(ORDER_COMPLETED)], { maxAttempts: 3 })
    assert.equal(r.delivered, true, JSON.stringify(r))
    assert.equal(r.attempts, 2)
    assert.equal(r.status, 200)
    assert.equal(mock.requests.length, 2)
  })

  test('status classification (maxAttempts 1): retryable vs permanent', async () => {
    const retryable = [408, 410, 429, 460, 500, 502, 503, 504]
    const permanent = [400, 401, 403, 404, 413, 422, 501, 505]
    const dest = await make()
    for (const status of [...retryable, ...permanent]) {
      mock.reset()
      mock.enqueue({ status })
      const [r] = await dest.send([clone(ORDER_COMPLETED)], { maxAttempts: 1 })
      assert.equal(r.delivered, false, `status ${status}: ${JSON.stringify(r)}`)
      assert.equal(r.status, status, `status ${status}`)
      assert.equal(r.attempts, 1, `status ${status}`)
      assert.equal(r.error?.retryable, retryable.includes(status), `status ${status}: retryable should be ${retryable.includes(status)}`)
    }
  })

  test('permanent status is not retried even with attempts left (401, 501)', async () => {
    const dest = await make()
    for (const status of [401, 501]) {
      mock.reset()
      mock.enqueue({ status }, { status: 200 })
      const [r] = await dest.send([clone(ORDER_COMPLETED)], { maxAttempts: 4 })
      assert.equal(r.attempts, 1, `status ${status}`)
      assert.equal(mock.requests.length, 1, `status ${status}`)
    }
  })

  test('connection refused: retryable error after maxAttempts', async () => {
    const dest = pkg.createDestination({ destination: DESTINATION, settings: { ...SETTINGS }, baseUrl: await closedPortUrl() })
    const [r] = await dest.send([clone(ORDER_COMPLETED)], { maxAttempts: 2 })
    assert.equal(r.delivered, false, JSON.stringify(r))
    assert.equal(r.attempts, 2)
    assert.equal(r.status ?? null, null)
    assert.equal(r.error?.retryable, true)
  })

  test('timeout: a reply slower than timeoutMs is a retryable failure', async () => {
    mock.enqueue({ status: 200, delayMs: 1500 })
    const dest = await make()
    const t0 = Date.now()
    const [r] = await dest.send([clone(ORDER_COMPLETED)], { maxAttempts: 1, timeoutMs: 200 })
    assert.ok(Date.now() - t0 < 1400, 'send() waited for the slow reply instead of timing out')
    assert.equal(r.delivered, false, JSON.stringify(r))
    assert.equal(r.error?.retryable, true)
  })

  test('access token never appears in results or plan lines', async () => {
    const dest = await make()
    const results = await dest.send([clone(ORDER_COMPLETED)])
    const lines = dest.plan([clone(ORDER_COMPLETED)])
    assert.ok(!JSON.stringify(results).includes(TOKEN))
    assert.ok(!JSON.stringify(lines).includes(TOKEN))
    assert.match(lines[0].request.url, /[?&]access_token=REDACTED(&|$)/)
    assert.equal(new URL(lines[0].request.url).pathname, '/v3/px-123/events')
  })
})

describe('bad input', { skip }, () => {
  useMockSnap()

  test('non-object events get error lines, in input order, without throwing', async () => {
    const dest = await make()
    const inputs = [null, 42, 'str', [], clone(ORDER_COMPLETED), true]
    let lines
    assert.doesNotThrow(() => (lines = dest.plan(inputs)))
    assert.equal(lines.length, inputs.length, JSON.stringify(lines))
    for (const i of [0, 1, 2, 3, 5]) {
      assert.ok(lines[i].error, `input #${i} (${JSON.stringify(inputs[i])}) should give an error line, got ${JSON.stringify(lines[i])}`)
      assert.equal(lines[i].request, undefined)
    }
    assert.ok(lines[4].request, 'the valid event in the middle still plans')
    const results = await dest.send(inputs)
    assert.equal(results.filter((r) => r.delivered === true).length, 1)
    assert.equal(mock.requests.length, 1)
  })

  test('events with no matching subscription are skipped', async () => {
    const dest = await make()
    const lines = dest.plan([{ type: 'track', event: 'Order Refunded', messageId: 'x1' }, { type: 'identify', messageId: 'x2', traits: { email: 'a@b.co' } }])
    assert.equal(lines.length, 2)
    for (const l of lines) assert.equal(l.skipped, 'no matching subscription', JSON.stringify(l))
  })

  // Structurally odd events. Segment's own destination plans these (its trigger only looks at
  // `event`; mapping-kit paths into a string give nothing). Here we only require graceful
  // handling: either the Segment-compatible request, or one per-event error line naming the
  // field. Whether rejecting is acceptable is the differential test's business (DELIBERATE).
  const plannedOrFieldError = (l, field, check) => {
    if (l.error) {
      assert.equal(l.subscription, undefined, `a structural rejection should be event-level: ${JSON.stringify(l)}`)
      assert.equal(l.error.field, field, `error should name the field: ${JSON.stringify(l)}`)
      return
    }
    assert.ok(l.request, JSON.stringify(l))
    check?.(l.request.body.data[0])
  }

  test('missing type: no crash; Segment-compatible request or an error naming `type`', async () => {
    const dest = await make()
    const e = clone(ORDER_COMPLETED)
    delete e.type
    const lines = dest.plan([e, {}])
    assert.equal(lines.length, 2)
    plannedOrFieldError(lines[0], 'type')
    assert.ok(lines[1].skipped || lines[1].error?.field === 'type', JSON.stringify(lines[1]))
  })

  test('wrong types: properties as a string, context as a string, userId as a number', async () => {
    const dest = await make()
    const e1 = { ...clone(ORDER_COMPLETED), messageId: 'w1', properties: 'oops' }
    const e2 = { ...clone(ORDER_COMPLETED), messageId: 'w2', context: 'ctx' }
    const e3 = { ...clone(ORDER_COMPLETED), messageId: 'w3', userId: 42 }
    let lines
    assert.doesNotThrow(() => (lines = dest.plan([e1, e2, e3])))
    assert.equal(lines.length, 3)
    // properties ignored; IP + UA from context still satisfy Snap's identifier rule
    plannedOrFieldError(one(lines, 'w1'), 'properties', (ev) => assert.equal(ev.custom_data, undefined))
    // no context: email from properties is still there
    plannedOrFieldError(one(lines, 'w2'), 'context', (ev) => assert.deepEqual(ev.user_data.em, [sha256('jane.doe@example.com')]))
    // numeric userId is coerced to a string, then hashed (Segment does this; no excuse to reject)
    const l3 = one(lines, 'w3')
    assert.ok(l3.request, JSON.stringify(l3))
    assert.deepEqual(l3.request.body.data[0].user_data.external_id, [sha256('42')])
  })

  test('unknown destination name: createDestination throws', () => {
    assert.throws(() => pkg.createDestination({ destination: 'snap-conversions-api-nope', settings: { ...SETTINGS } }))
  })

  test('subscription with an unknown partnerAction: clear error naming it', () => {
    const subs = [{ name: 'Bad', subscribe: 'event = "Order Completed"', partnerAction: 'nopeAction', mapping: {}, enabled: true }]
    let dest
    try {
      dest = pkg.createDestination({ destination: DESTINATION, settings: { ...SETTINGS }, subscriptions: subs })
    } catch (err) {
      assert.match(String(err?.message), /nopeAction/, 'the error should name the unknown action')
      return
    }
    const lines = dest.plan([clone(ORDER_COMPLETED)])
    assert.ok(lines[0].error, `expected an error line, got ${JSON.stringify(lines[0])}`)
    assert.match(lines[0].error.message, /nopeAction/)
  })

  test('invalid FQL in a subscription: clear error', () => {
    const subs = [{ name: 'Broken', subscribe: '(type = "track"', partnerAction: 'reportConversionEvent', mapping: snapDefaultMapping(), enabled: true }]
    let dest
    try {
      dest = pkg.createDestination({ destination: DESTINATION, settings: { ...SETTINGS }, subscriptions: subs })
    } catch (err) {
      assert.ok(err instanceof Error && err.message.length > 0)
      return
    }
    const lines = dest.plan([clone(ORDER_COMPLETED)])
    assert.ok(lines[0].error, JSON.stringify(lines[0]))
  })

  test('missing pixel_id: web events get an error with field pixel_id; app events still plan and send', async () => {
    const { pixel_id, ...noPixel } = SETTINGS
    const subs = [...(await import('../support/segment-reference.mjs')).snapPresetSubscriptions(), appSubscription(snapDefaultMapping())]
    const dest = pkg.createDestination({ destination: DESTINATION, settings: noPixel, subscriptions: subs, baseUrl: mock.url })
    const web = clone(ORDER_COMPLETED)
    const app = appEvent('Application Opened', 'app-1')
    const lines = dest.plan([web, app])
    const w = one(lines, 'msg-order-1')
    assert.ok(w.error, JSON.stringify(w))
    assert.equal(w.error.field, 'pixel_id')
    const appLines = byMessageId(lines, 'app-1')
    const appReq = appLines.find((l) => subName(l) === 'App Open (app)')
    assert.ok(appReq?.request, JSON.stringify(appLines))
    assert.equal(new URL(appReq.request.url).pathname, '/v3/snap-app-456/events')
    // the preset "App Open" (action_source website) needs the pixel too
    const presetAppOpen = appLines.find((l) => subName(l) === 'App Open')
    assert.equal(presetAppOpen?.error?.field, 'pixel_id', JSON.stringify(presetAppOpen))

    const results = await dest.send([web, app])
    const delivered = results.filter((r) => r.delivered === true)
    assert.equal(delivered.length, 1, JSON.stringify(results))
    assert.equal(delivered[0].messageId, 'app-1')
    assert.equal(mock.requests.length, 1)
    assert.equal(mock.requests[0].pathname, '/v3/snap-app-456/events')
    const ev = mock.requests[0].json.data[0]
    assert.equal(ev.action_source, 'app')
    assert.equal(ev.app_data.app_id, 'com.example.app')
    assert.equal(ev.user_data.madid, '6d92078a-8246-4ba4-ae5b-76104861e7dc', 'madid lower-cased, not hashed')
  })
})

describe('regressions', { skip }, () => {
  useMockSnap()

  test('a phone given as a JSON number is normalized and hashed (not dropped, no crash)', async () => {
    const dest = await make()
    const e = webEvent('Order Completed', 'ph-num', { properties: { phone: 14155550123, currency: 'USD', revenue: 1 } })
    const [l] = dest.plan([e])
    assert.ok(l.request, JSON.stringify(l))
    assert.deepEqual(l.request.body.data[0].user_data.ph, [sha256('14155550123')])
    const e2 = webEvent('Order Completed', 'ph-num-00', { properties: { phone: '0044 20 7946 0958' } })
    const [l2] = dest.plan([e2])
    assert.deepEqual(l2.request.body.data[0].user_data.ph, [sha256('442079460958')], 'leading 00 and non-digits removed')
  })

  test('identifiers already hashed upstream are not hashed again (lower- and upper-case hex)', async () => {
    const digest = sha256('test@example.com')
    const phoneDigest = sha256('14155550123')
    const dest = await make()
    const lower = webEvent('Order Completed', 'pre-lower', { properties: { email: digest, phone: phoneDigest } })
    const upper = webEvent('Order Completed', 'pre-upper', { properties: { email: digest.toUpperCase(), phone: phoneDigest.toUpperCase() } })
    const lines = dest.plan([lower, upper])
    const ul = one(lines, 'pre-lower').request.body.data[0].user_data
    assert.deepEqual(ul.em, [digest])
    assert.deepEqual(ul.ph, [phoneDigest])
    const uu = one(lines, 'pre-upper').request.body.data[0].user_data
    for (const [k, d] of [['em', digest], ['ph', phoneDigest]]) {
      const v = uu[k]?.[0]
      assert.notEqual(v, sha256(d), `${k}: upper-case digest was hashed again (lower-cased first)`)
      assert.notEqual(v, sha256(d.toUpperCase()), `${k}: upper-case digest was hashed again`)
      assert.ok(v === d || v === d.toUpperCase(), `${k}: expected the digest passed through, got ${v}`)
    }
  })

  test('event_id is top-level in the Snap event (not in custom_data) and defaults to messageId', async () => {
    const dest = await make()
    await dest.send([clone(ORDER_COMPLETED)])
    const ev = mock.requests[0].json.data[0]
    assert.equal(ev.event_id, 'msg-order-1')
    assert.equal(ev.custom_data?.event_id, undefined)
    const noId = clone(ORDER_COMPLETED)
    delete noId.messageId
    const [l] = dest.plan([noId])
    assert.ok(l.request, JSON.stringify(l))
    assert.equal(l.request.body.data[0].custom_data?.event_id, undefined)
  })

  for (const batch_size of [undefined, 10]) {
    test(`one bad event in a batch does not fail the others (batch_size=${batch_size ?? 'default'})`, async () => {
      const settings = { ...SETTINGS }
      if (batch_size) settings.batch_size = batch_size
      const dest = pkg.createDestination({ destination: DESTINATION, settings, baseUrl: mock.url })
      const good1 = webEvent('Order Completed', 'good-1')
      const bad = webEvent('Order Completed', 'bad-1', { properties: { email: 'bad@example.com', currency: 'XYZ', revenue: 3 } })
      const good2 = webEvent('Product Viewed', 'good-2')
      const garbage = 'not an event'
      const results = await dest.send([good1, bad, garbage, good2])
      assert.equal(one(results, 'good-1').delivered, true, JSON.stringify(results))
      assert.equal(one(results, 'good-2').delivered, true, JSON.stringify(results))
      const b = one(results, 'bad-1')
      assert.ok(b.error, JSON.stringify(b))
      assert.notEqual(b.delivered, true)
      const ids = snapEvents(mock.requests).map((e) => e.event_id).sort()
      assert.deepEqual(ids, ['good-1', 'good-2'])
      if (batch_size) {
        for (const r of mock.requests) assert.ok(r.json.data.length <= batch_size)
      }
      // results keep input order
      const order = results.map((r) => r.messageId).filter((m) => typeof m === 'string')
      assert.deepEqual(order, ['good-1', 'bad-1', 'good-2'])
    })
  }

  test('batch_size > 1: a retryable failure of a batched request is reported for each of its events', async () => {
    const dest = pkg.createDestination({ destination: DESTINATION, settings: { ...SETTINGS, batch_size: 10 }, baseUrl: mock.url })
    mock.setDefault({ status: 503 })
    const events = [webEvent('Order Completed', 'b-1'), webEvent('Order Completed', 'b-2')]
    const results = await dest.send(events, { maxAttempts: 1 })
    for (const id of ['b-1', 'b-2']) {
      const r = one(results, id)
      assert.equal(r.delivered, false)
      assert.equal(r.status, 503)
      assert.equal(r.error?.retryable, true)
    }
  })
})
