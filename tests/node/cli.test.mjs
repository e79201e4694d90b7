// The CLI: node pkg/cli.js plan|send --destination D --settings s.json [--subscriptions subs.json] [--base-url URL] [events.ndjson]
//   node --test tests/node/cli.test.mjs
import { test, describe, before, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync, rmSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

import { startMockSnap } from '../support/mock-snap.mjs'
import { PKG_CLI, pkgAvailable, PKG_MISSING_REASON } from '../support/load-pkg.mjs'
import { runCli } from '../support/cli.mjs'
import { snapDefaultMapping } from '../support/segment-reference.mjs'
import { SETTINGS, TOKEN, DESTINATION, ORDER_COMPLETED, webEvent, appEvent, appSubscription } from '../support/fixtures.mjs'

const skip = !pkgAvailable() ? PKG_MISSING_REASON : !existsSync(PKG_CLI) ? `CLI not built: ${PKG_CLI} missing` : false


const kind = (l) => (l.request ? 'request' : l.error ? 'error' : l.skipped ? 'skipped' : l.delivered !== undefined ? 'result' : 'unknown')

let dir
let mock
const file = (name, content) => {
  const p = path.join(dir, name)
  writeFileSync(p, content)
  return p
}

// Input: valid, malformed JSON, non-matching, valid (different preset), valid
const EVENTS = [
  JSON.stringify(webEvent('Order Completed', 'cli-a')),
  '{"type":"track", "event": "Order Completed", oops',
  JSON.stringify({ type: 'track', event: 'Order Refunded', messageId: 'cli-c' }),
  JSON.stringify(webEvent('Product Viewed', 'cli-d')),
  JSON.stringify(webEvent('Signed Up', 'cli-e'))
]
const NDJSON = EVENTS.join('\n') + '\n'

function assertPlanOutput(res) {
  assert.equal(res.signal, null, `CLI killed by ${res.signal}`)
  assert.deepEqual(res.bad, [], 'every stdout line must be JSON')
  assert.equal(res.lines.length, 5, res.stdout)
  assert.deepEqual(res.lines.map(kind), ['request', 'error', 'skipped', 'request', 'request'], res.stdout)
  assert.deepEqual(
    res.lines.map((l) => l.messageId ?? null),
    ['cli-a', null, 'cli-c', 'cli-d', 'cli-e'],
    'output order = input order'
  )
  assert.equal(new URL(res.lines[0].request.url).pathname, '/v3/px-123/events')
  assert.ok(!res.stdout.includes(TOKEN), 'token must be redacted')
  assert.ok(!res.stderr.match(/^\s+at /m), `no stack trace expected on stderr:\n${res.stderr}`)
}

describe('cli', { skip }, () => {
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'edge-actions-cli-'))
    mock = await startMockSnap()
  })
  after(async () => {
    await mock?.close()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })
  beforeEach(() => mock.reset())

  test('plan on an NDJSON file: malformed line -> error line, others still output, input order kept', async () => {
    const s = file('s.json', JSON.stringify(SETTINGS))
    const ev = file('events.ndjson', NDJSON)
    const res = await runCli(['plan', '--destination', DESTINATION, '--settings', s, ev])
    assertPlanOutput(res)
  })

  test('plan on stdin gives the same output as on a file', async () => {
    const s = file('s.json', JSON.stringify(SETTINGS))
    const ev = file('events.ndjson', NDJSON)
    const fromFile = await runCli(['plan', '--destination', DESTINATION, '--settings', s, ev])
    const fromStdin = await runCli(['plan', '--destination', DESTINATION, '--settings', s], { stdin: NDJSON })
    assertPlanOutput(fromStdin)
    assert.deepEqual(fromStdin.lines, fromFile.lines)
  })

  test('plan with --subscriptions uses them instead of the presets', async () => {
    const s = file('s.json', JSON.stringify(SETTINGS))
    const subs = file('subs.json', JSON.stringify([appSubscription(snapDefaultMapping())]))
    const input = [JSON.stringify(appEvent('Application Opened', 'cli-app')), JSON.stringify(webEvent('Order Completed', 'cli-web'))].join('\n') + '\n'
    const res = await runCli(['plan', '--destination', DESTINATION, '--settings', s, '--subscriptions', subs], { stdin: input })
    assert.deepEqual(res.bad, [])
    assert.deepEqual(res.lines.map(kind), ['request', 'skipped'], res.stdout)
    assert.equal(new URL(res.lines[0].request.url).pathname, '/v3/snap-app-456/events')
  })

  test('send: everything delivered -> exit 0, one result per event in input order', async () => {
    const s = file('s.json', JSON.stringify(SETTINGS))
    const input = [webEvent('Order Completed', 's-1'), webEvent('Product Viewed', 's-2'), webEvent('Signed In', 's-3')].map((e) => JSON.stringify(e)).join('\n') + '\n'
    const res = await runCli(['send', '--destination', DESTINATION, '--settings', s, '--base-url', mock.url], { stdin: input })
    assert.equal(res.code, 0, `exit code; stderr: ${res.stderr}\nstdout: ${res.stdout}`)
    assert.deepEqual(res.bad, [])
    assert.deepEqual(res.lines.map((l) => [l.messageId, l.delivered]), [['s-1', true], ['s-2', true], ['s-3', true]])
    assert.equal(mock.requests.length, 3)
    assert.ok(mock.requests.every((r) => r.query.access_token === TOKEN))
    assert.ok(!res.stdout.includes(TOKEN))
  })

  test('send: a rejected event -> non-zero exit, the others still delivered', async () => {
    const s = file('s.json', JSON.stringify(SETTINGS))
    const input = [
      JSON.stringify(webEvent('Order Completed', 'r-1')),
      JSON.stringify(webEvent('Order Completed', 'r-2', { properties: { email: 'r2@example.com', currency: 'XYZ', revenue: 1 } })),
      'not json at all',
      JSON.stringify(webEvent('Order Completed', 'r-3'))
    ].join('\n') + '\n'
    const res = await runCli(['send', '--destination', DESTINATION, '--settings', s, '--base-url', mock.url], { stdin: input })
    assert.notEqual(res.code, 0, 'exit code must be non-zero when an event was not delivered')
    assert.equal(res.signal, null)
    assert.deepEqual(res.bad, [])
    assert.deepEqual(res.lines.map((l) => l.messageId ?? null), ['r-1', 'r-2', null, 'r-3'], res.stdout)
    assert.equal(res.lines[0].delivered, true)
    assert.ok(res.lines[1].error && res.lines[1].delivered !== true)
    assert.ok(res.lines[2].error)
    assert.equal(res.lines[3].delivered, true)
    assert.equal(mock.requests.length, 2)
  })

  test('send: Snap answers 400 -> non-zero exit', async () => {
    const s = file('s.json', JSON.stringify(SETTINGS))
    mock.enqueue({ status: 400 })
    const res = await runCli(['send', '--destination', DESTINATION, '--settings', s, '--base-url', mock.url], { stdin: JSON.stringify(ORDER_COMPLETED) + '\n' })
    assert.notEqual(res.code, 0)
    assert.equal(res.lines.length, 1, res.stdout)
    assert.equal(res.lines[0].delivered, false)
    assert.equal(res.lines[0].status, 400)
  })
})
