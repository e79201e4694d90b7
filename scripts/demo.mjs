#!/usr/bin/env node
// Demo: send a handful of Segment events through the Snap destination to a local mock of
// tr.snapchat.com, then through the Braze destination to a local mock Braze REST endpoint, and
// show what arrived there and the per-event results.
//   node scripts/demo.mjs
import { fileURLToPath, pathToFileURL } from 'node:url'
import path from 'node:path'
import { existsSync } from 'node:fs'

import { startMockSnap } from '../tests/support/mock-snap.mjs'
import { startMockBraze } from '../tests/support/mock-braze.mjs'
import { events, brazeEvents } from './demo-events.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const entry = path.join(root, 'pkg', 'node.js')
if (!existsSync(entry)) {
  console.error(`pkg/node.js not found: build the package first (make build)`)
  process.exit(1)
}
const { createDestination, presets } = await import(pathToFileURL(entry).href)

const TOKEN = 'demo-access-token'
const settings = { pixel_id: 'px-123', snap_app_id: 'snap-app-456', app_id: '1234567890', access_token: TOKEN }
const mock = await startMockSnap()
try {
  const dest = createDestination({ destination: 'snap-conversions-api', settings, baseUrl: mock.url })
  const results = await dest.send(events)

  console.log(`\n── what the mock Snap server received (${mock.requests.length} requests) ──`)
  for (const r of mock.requests) {
    console.log(`\n${r.method} ${r.url.replace(/([?&]access_token=)[^&]*/, '$1REDACTED')}`)
    console.log(JSON.stringify(r.json ?? r.rawBody, null, 2))
  }

  printResults(results)
} finally {
  await mock.close()
}

function printResults(results) {
  console.log('\n── per-event results ──')
  for (const r of results) {
    const sub = typeof r.subscription === 'string' ? r.subscription : r.subscription?.name
    const what = r.skipped
      ? `skipped (${r.skipped})`
      : r.delivered
        ? `delivered, HTTP ${r.status}, ${r.attempts} attempt(s)`
        : `NOT delivered: ${r.error?.code ?? ''} ${r.error?.message ?? ''}${r.error?.field ? ` [field ${r.error.field}]` : ''}${r.status ? ` (HTTP ${r.status})` : ''}`
    console.log(`${String(r.messageId ?? '-').padEnd(8)} ${String(sub ?? '').padEnd(22)} ${what}`)
  }
}

// Braze: the presets plus alias -> identify for the anonymous -> known transition; batched as
// Braze counts objects (75 per /users/track request).
const braze = await startMockBraze()
try {
  const subscriptions = [
    ...presets('braze'),
    {
      name: 'Alias anonymous id', subscribe: 'type = "alias"', partnerAction: 'createAlias',
      mapping: { external_id: { '@path': '$.userId' }, alias_name: { '@path': '$.previousId' }, alias_label: 'anonymous_id' }
    },
    {
      name: 'Identify alias', subscribe: 'type = "alias"', partnerAction: 'identifyUser',
      mapping: { external_id: { '@path': '$.userId' }, user_alias: { alias_name: { '@path': '$.previousId' }, alias_label: 'anonymous_id' }, merge_behavior: 'merge' }
    }
  ]
  const dest = createDestination({
    destination: 'braze',
    settings: { api_key: 'demo-braze-api-key', endpoint: 'https://rest.fra-02.braze.eu', app_id: 'demo-app', batch_size: 75 },
    subscriptions,
    baseUrl: braze.url
  })
  const results = await dest.send(brazeEvents)
  console.log(`\n── what the mock Braze server received (${braze.requests.length} requests, in order) ──`)
  for (const r of braze.requests) {
    console.log(`\n${r.method} ${r.url}   authorization: ${r.headers.authorization ? 'Bearer REDACTED' : '(none)'}`)
    console.log(JSON.stringify(r.json ?? r.rawBody, null, 2))
  }
  printResults(results)
} finally {
  await braze.close()
}
