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
import { generateEvents } from '../differential/generate.mjs'

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

  // --workers N plans chunks (500 lines) on N threads: the output must be the one thread's,
  // byte for byte and in input order, whatever is in the input.
  describe('plan --workers', () => {
    // Generated events (varied, some rejected by the core) with, at known line numbers:
    // malformed JSON, blank and whitespace-only lines, a long valid event, one over the core's
    // 512 KB limit, non-ASCII text; 1,900 lines (4 chunks), the last without a newline.
    const N_LINES = 1900
    const bad = new Map() // line number -> what its error message must say
    const built = (() => {
      const events = generateEvents(1700, 11)
      const out = []
      let e = 0
      for (let line = 1; line <= N_LINES; line++) {
        if (line % 97 === 0) {
          out.push(`{"type":"track","event":"Order Completed","messageId":"broken-${line}"`)
          bad.set(line, `line ${line} is not valid JSON`)
        } else if (line % 41 === 0) out.push('')
        else if (line % 89 === 0) out.push(' \t ')
        else if (line === 777) out.push(JSON.stringify(webEvent('Order Completed', 'long-ok', { properties: { email: 'l@example.com', revenue: 1, currency: 'USD', note: 'é✓'.repeat(60000) } })))
        else if (line === 1234) {
          out.push(JSON.stringify(webEvent('Order Completed', 'too-big', { properties: { note: 'x'.repeat(600000) } })))
          bad.set(line, 'line 1234: The event is')
        } else {
          // A messageId of its own (m-<line>) shows where each output line came from.
          const ev = { ...events[e++ % events.length], messageId: `m-${line}` }
          out.push(JSON.stringify(ev).replace('"type"', line % 5 ? '"type"' : '"note":"ünïcødé 🚀","type"'))
        }
      }
      return out.join('\n')
    })()
    const run = (workers, args, opts) => runCli(['plan', `--workers=${workers}`, '--destination', DESTINATION, ...args], opts)

    for (const [name, settings] of [['default settings', SETTINGS], ['batch_size 3 (batches depend on the chunks)', { ...SETTINGS, batch_size: 3 }]]) {
      test(`--workers 1 and --workers 3 give the same bytes, counts and line numbers (${name})`, async () => {
        const s = file('workers-s.json', JSON.stringify(settings))
        const ev = file('workers.ndjson', built)
        const one = await run(1, ['--settings', s, ev])
        const three = await run(3, ['--settings', s, ev])
        assert.equal(one.code, 0, one.stderr)
        assert.equal(three.code, 0, three.stderr)
        assert.deepEqual(one.bad, [])
        assert.ok(one.stdout === three.stdout, 'stdout differs between --workers 1 and --workers 3')
        assert.equal(three.stderr, one.stderr)
        const events = built.split('\n').filter((l) => l.trim()).length
        assert.match(one.stderr, new RegExp(`^edge-actions: ${events} events read; \\d+ planned, \\d+ rejected, \\d+ skipped\\n$`))

        // Every bad line has its error, with its own line number, in input order.
        const errors = one.lines.filter((l) => l.error?.code === 'INVALID_EVENT' && /^line \d+/.test(l.error.message)).map((l) => l.error.message)
        const expected = [...bad.values()]
        assert.equal(errors.length, expected.length, errors.join('\n'))
        errors.forEach((m, i) => assert.ok(m.startsWith(expected[i]), `${m} should start with ${expected[i]}`))
        assert.ok(one.lines.some((l) => l.messageId === 'long-ok' && !l.error), 'the long valid event is planned')
        // Output follows the input: the messageIds appear in the order of their lines.
        const from = one.lines.map((l) => /^m-(\d+)$/.exec(l.messageId ?? '')?.[1]).filter(Boolean).map(Number)
        assert.deepEqual(from, [...from].sort((a, b) => a - b))
        assert.ok(new Set(from).size > 1500, `${new Set(from).size} events' lines in the output`)

        // From a pipe (reads of other sizes) the chunks, and so the output, are the same.
        const piped = await run(3, ['--settings', s], { stdin: built })
        assert.ok(piped.stdout === one.stdout, 'stdin output differs from the file output')
      })
    }

    test('bad --workers values and bad settings are reported once, before any work', async () => {
      const s = file('s.json', JSON.stringify(SETTINGS))
      for (const v of ['0', '-1', '1.5', 'two', '65']) {
        const res = await run(v, ['--settings', s], { stdin: NDJSON })
        assert.equal(res.code, 2, `--workers ${v}: ${res.stderr}`)
        assert.equal(res.stdout, '')
        assert.equal(res.stderr, 'edge-actions: --workers must be an integer from 1 to 64\n')
      }
      const sent = await runCli(['send', '--workers', '2', '--destination', DESTINATION, '--settings', s, '--base-url', mock.url], { stdin: NDJSON })
      assert.equal(sent.code, 2)
      assert.equal(sent.stderr, 'edge-actions: --workers applies to plan only\n')
      assert.equal(mock.requests.length, 0)
      const badSettings = file('bad-s.json', JSON.stringify({ ...SETTINGS, pixel_id: 5 }))
      const res = await run(3, ['--settings', badSettings], { stdin: NDJSON })
      assert.equal(res.code, 2)
      assert.equal(res.stdout, '')
      assert.equal(res.stderr, 'edge-actions: INVALID_CONFIG (settings.pixel_id): `pixel_id` must be a string\n')
    })

    test('the default (the machine\'s cores) gives the one-thread output too', async () => {
      const s = file('s.json', JSON.stringify(SETTINGS))
      const one = await run(1, ['--settings', s], { stdin: NDJSON })
      const dflt = await runCli(['plan', '--destination', DESTINATION, '--settings', s], { stdin: NDJSON })
      assertPlanOutput(dflt)
      assert.equal(dflt.stdout, one.stdout)
      assert.equal(dflt.stderr, one.stderr)
    })
  })
})
