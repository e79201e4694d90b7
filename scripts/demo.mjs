#!/usr/bin/env node
// Demo: send a handful of Segment events through the Snap destination to a local mock of
// tr.snapchat.com and show what arrived there, then the per-event results.
//   node scripts/demo.mjs
import { fileURLToPath, pathToFileURL } from 'node:url'
import path from 'node:path'
import { existsSync } from 'node:fs'

import { startMockSnap } from '../tests/support/mock-snap.mjs'
import { events } from './demo-events.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const entry = path.join(root, 'pkg', 'node.js')
if (!existsSync(entry)) {
  console.error(`pkg/node.js not found: build the package first (make build)`)
  process.exit(1)
}
const { createDestination } = await import(pathToFileURL(entry).href)

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

  console.log('\n── per-event results ──')
  for (const r of results) {
    const sub = typeof r.subscription === 'string' ? r.subscription : r.subscription?.name
    const what = r.skipped
      ? `skipped (${r.skipped})`
      : r.delivered
        ? `delivered, HTTP ${r.status}, ${r.attempts} attempt(s)`
        : `NOT delivered: ${r.error?.code ?? ''} ${r.error?.message ?? ''}${r.error?.field ? ` [field ${r.error.field}]` : ''}${r.status ? ` (HTTP ${r.status})` : ''}`
    console.log(`${String(r.messageId ?? '-').padEnd(8)} ${String(sub ?? '').padEnd(14)} ${what}`)
  }
} finally {
  await mock.close()
}
