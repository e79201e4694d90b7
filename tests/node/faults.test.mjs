// Fault injection: "nothing lost, nothing leaked" (issue 7).
//   node --test tests/node/faults.test.mjs
//   FAULT_SEED=11 FAULT_EVENTS=20000 node --test tests/node/faults.test.mjs   (another seeded run)
//
// 10,000 events go through send() in several calls (batch sizes 1, 25, 50; concurrency 4 to 16)
// to a local server that injects 429 (Retry-After in seconds and as an HTTP date), 500/502/503,
// 501 and 400, connection resets, timeouts, slow bodies and redirects to a second local server.
// The server keeps the books; every assertion compares the client's result lines with them.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'

import { startMockSnap, snapInvalid } from '../support/mock-snap.mjs'
import { startFaultServer, DEFAULT_MIX, EXPECTED } from '../support/fault-server.mjs'
import { loadPkg, pkgAvailable, PKG_MISSING_REASON } from '../support/load-pkg.mjs'
import { TOKEN, SETTINGS, DESTINATION, webEvent } from '../support/fixtures.mjs'

const skip = pkgAvailable() ? false : PKG_MISSING_REASON

const SEED = Number(process.env.FAULT_SEED ?? 7)
const TOTAL = Number(process.env.FAULT_EVENTS ?? 10_000)
// Long enough that a loaded machine never times out a prompt answer (that would be a
// retry after a 2xx we did not inject).
const TIMEOUT_MS = 1500
const SEND = { maxAttempts: 3, timeoutMs: TIMEOUT_MS, baseDelayMs: 20, maxDelayMs: 200 }
// Shares of TOTAL per send() call. Batch size 1 makes many requests per event, so it gets few.
const RUNS = [
  { name: 'batch 1, concurrency 8', batch_size: 1, share: 0.05, concurrency: 8 },
  { name: 'batch 25, concurrency 4', batch_size: 25, share: 0.3, concurrency: 4 },
  { name: 'batch 25, concurrency 8', batch_size: 25, share: 0.35, concurrency: 8 },
  { name: 'batch 50, concurrency 16', batch_size: 50, share: 0.3, concurrency: 16 }
]
const KINDS = ['Order Completed', 'Product Added', 'Signed Up', 'Checkout Started', 'page']
const REDIRECTS = new Set(['redirect-307', 'redirect-302'])

// Realistic events; about 1 in 97 has no identifier at all, which planning rejects
// (MISCONFIGURED_FIELD): such an event must get its error line and never reach the server.
function makeEvent(run, i) {
  const id = `f${run}-${i}`
  const kind = KINDS[i % KINDS.length]
  const e = kind === 'page'
    ? { ...webEvent('x', id), type: 'page', name: 'Home', event: undefined }
    : webEvent(kind, id, { properties: { email: `${id}@example.com`, currency: 'EUR', revenue: i % 1000, order_id: `o-${id}` } })
  if (i % 97 === 13) {
    delete e.userId
    delete e.properties.email
    e.context = { page: e.context.page }
  }
  return e
}

let pkg, server, target
const runs = [] // { ...RUNS[i], events, plan, results, ms }

describe('send() under injected faults', { skip }, () => {
  before(async () => {
    pkg = await loadPkg()
    target = await startMockSnap()
    server = await startFaultServer({ seed: SEED, timeoutMs: TIMEOUT_MS, redirectTo: target.url })
    for (const [r, spec] of RUNS.entries()) {
      const count = r === RUNS.length - 1 ? TOTAL - runs.reduce((n, x) => n + x.events.length, 0) : Math.round(TOTAL * spec.share)
      const events = Array.from({ length: count }, (_, i) => makeEvent(r, i))
      const dest = pkg.createDestination({ destination: DESTINATION, settings: { ...SETTINGS, batch_size: spec.batch_size }, baseUrl: server.url })
      const plan = dest.plan(events)
      server.phase(spec.name, spec.concurrency)
      const t0 = Date.now()
      const results = await dest.send(events, { ...SEND, concurrency: spec.concurrency })
      runs.push({ ...spec, events, plan, results, ms: Date.now() - t0 })
      dest.free()
    }
  })
  after(async () => {
    printSummary()
    await server?.close()
    await target?.close()
  })

  // Every event's line, with the requests that carried it and what the server did last.
  function* eachSent() {
    const by = server.requestsFor()
    for (const run of runs) {
      for (const [i, line] of run.results.entries()) {
        if (!('delivered' in line) || run.plan[i].error) continue
        const reqs = by.get(run.events[i].messageId) ?? []
        yield { run, line, reqs, last: reqs.at(-1) }
      }
    }
  }

  test('the server injected every fault kind', () => {
    const counts = server.faultCounts()
    for (const kind of [...Object.keys(DEFAULT_MIX), 'none']) assert.ok(counts[kind] >= 1, `no ${kind} injected: ${JSON.stringify(counts)}`)
    assert.deepEqual(server.problems, [], 'requests without a readable body of events')
    assert.ok(runs.reduce((n, r) => n + r.events.length, 0) >= 10_000 || TOTAL < 10_000)
  })

  test('exactly one result line per event, in input order; plan errors reported and never sent', () => {
    const by = server.requestsFor()
    for (const run of runs) {
      assert.equal(run.results.length, run.events.length, `${run.name}: ${run.results.length} lines for ${run.events.length} events`)
      assert.equal(run.plan.filter((l) => 'batchedWith' in l || 'request' in l || 'error' in l).length, run.events.length, `${run.name}: plan has one line per event`)
      for (const [i, line] of run.results.entries()) {
        const id = run.events[i].messageId
        assert.equal(line.messageId, id, `${run.name}: line ${i} is for ${line.messageId}, expected ${id}`)
        const planned = run.plan[i]
        if (planned.error) {
          assert.deepEqual(line.error, { ...planned.error, retryable: false }, `${id}: send reports the plan error, not retryable`)
          assert.equal(line.delivered, false, `${id}: not delivered`)
          assert.equal(by.get(id), undefined, `${id} was rejected by plan() but reached the server`)
        } else {
          assert.equal(typeof line.delivered, 'boolean', `${id}: ${JSON.stringify(line)}`)
          assert.ok(by.get(id)?.length >= 1, `${id}: planned for delivery but never reached the server (lost): ${JSON.stringify(line)}`)
        }
      }
    }
  })

  test('nothing sent again after a 2xx, nothing accepted twice, delivered <=> accepted once', () => {
    assert.deepEqual(server.seenAfterAccept.slice(0, 5), [], `${server.seenAfterAccept.length} event(s) sent again after the server had answered 2xx`)
    const twice = [...server.acceptCount].filter(([, n]) => n > 1)
    assert.deepEqual(twice.slice(0, 5), [], `${twice.length} event(s) accepted more than once`)
    let delivered = 0
    for (const { line, last } of eachSent()) {
      // A followed redirect is judged by the redirect test (the other origin answers there).
      if (REDIRECTS.has(last?.fault)) continue
      const accepted = server.acceptCount.get(line.messageId) ?? 0
      assert.equal(accepted, line.delivered ? 1 : 0, `${line.messageId}: delivered=${line.delivered} but the server accepted it ${accepted} time(s)`)
      delivered += line.delivered
    }
    assert.ok(delivered > 0)
  })

  test('each result matches what the server did: status, code, retryable flag, attempts (Segment classification)', () => {
    const seen = {}
    for (const { line, reqs, last } of eachSent()) {
      if (REDIRECTS.has(last.fault)) continue
      const id = line.messageId
      const exp = EXPECTED[last.fault]
      const why = `${id} (last attempt: ${last.fault}, ${reqs.length} attempt(s)): ${JSON.stringify(line)}`
      assert.equal(line.attempts, reqs.length, `attempts: ${why}`)
      assert.equal(line.status ?? null, exp.status, `status: ${why}`)
      if (exp.delivered) {
        assert.equal(line.delivered, true, why)
        assert.equal(line.error, undefined, why)
      } else {
        assert.equal(line.delivered, false, why)
        assert.equal(line.error?.code, exp.code, `code: ${why}`)
        assert.equal(line.error?.retryable, exp.retryable, `retryable: ${why}`)
        assert.equal(typeof line.error?.message, 'string', why)
        // retryable failures end only when the attempts run out; permanent ones at once
        if (exp.retryable) assert.equal(line.attempts, SEND.maxAttempts, `a retryable failure ends after maxAttempts: ${why}`)
      }
      // every earlier attempt got a retryable fault (a permanent one or a 2xx ends the request)
      for (const r of reqs.slice(0, -1)) assert.ok(EXPECTED[r.fault].retryable === true, `${id}: retried after ${r.fault}`)
      seen[last.fault] = (seen[last.fault] ?? 0) + 1
    }
    for (const f of ['none', 'slow-body', 'http-400', 'http-501']) assert.ok(seen[f] > 0, `no event ended on ${f}: ${JSON.stringify(seen)}`)
  })

  test('Retry-After is honoured, in seconds and as an HTTP date', () => {
    const by = server.requestsFor()
    let checked = 0
    for (const [, reqs] of by) {
      for (let k = 0; k + 1 < reqs.length; k++) {
        const r = reqs[k]
        if (r.fault !== 'retry-after-seconds' && r.fault !== 'retry-after-date') continue
        if (reqs[k + 1].eventIds[0] !== r.eventIds[0]) continue
        const gap = reqs[k + 1].startedAt - r.startedAt
        // seconds: 1000 ms; date: whole seconds, so at least 500 ms from a date 1.5 s ahead
        const min = r.fault === 'retry-after-seconds' ? 1000 : 500
        assert.ok(gap >= min - 30, `${r.eventIds[0]}: retried ${gap} ms after a 429 with ${r.fault} (>= ${min} ms asked)`)
        checked++
      }
    }
    assert.ok(checked > 0, 'no 429 was followed by a retry')
  })

  test('requests in flight never exceed the concurrency option', () => {
    for (const p of server.phases) {
      assert.ok(p.maxInFlight <= p.concurrency, `${p.name}: ${p.maxInFlight} requests in flight at once`)
      assert.ok(p.maxInFlight >= 2, `${p.name}: never more than ${p.maxInFlight} in flight; the counter sees no concurrency`)
    }
  })

  test('a timed-out request is abandoned: the client closes its connection instead of leaving it open', () => {
    const held = server.requests.filter((r) => r.fault === 'timeout')
    assert.ok(held.length > 0)
    const open = held.filter((r) => r.closedBy !== 'client')
    assert.deepEqual(open.slice(0, 3).map((r) => ({ request: r.index, closedBy: r.closedBy, openMs: r.endedAt && r.endedAt - r.startedAt })), [],
      `${open.length} of ${held.length} timed-out requests were left open by the client (server closed them after ${server.holdMs} ms)`)
  })

  test('redirects are not followed: a 3xx is a permanent HTTP_ERROR naming the Location origin', () => {
    assert.equal(target.requests.length, 0, `the redirect target received ${target.requests.length} request(s): ${JSON.stringify(target.requests.slice(0, 2).map((r) => [r.method, r.url.replace(TOKEN, '<TOKEN>')]))}`)
    let n = 0
    for (const { line, reqs, last } of eachSent()) {
      if (!REDIRECTS.has(last.fault)) continue
      const exp = EXPECTED[last.fault]
      const why = `${line.messageId} (answered ${last.status}): ${JSON.stringify(line)}`
      assert.equal(line.delivered, false, why)
      assert.equal(line.attempts, reqs.length, why)
      assert.equal(line.status, exp.status, why)
      assert.equal(line.error?.code, 'HTTP_ERROR', why)
      assert.equal(line.error?.retryable, false, why)
      assert.ok(line.error.message.includes(target.url), `the error names the Location's origin ${target.url}: ${why}`)
      n++
    }
    assert.ok(n > 0, 'no event ended on a redirect')
  })

  test('the access token goes to the configured origin only, and never into a result line', () => {
    for (const r of server.requests) assert.equal(r.query?.access_token, TOKEN, `request ${r.index} to the configured origin lacks the token`)
    const leaked = target.requests.filter((r) => r.url.includes(TOKEN) || JSON.stringify(r.headers).includes(TOKEN) || r.rawBody.includes(TOKEN))
    assert.equal(leaked.length, 0, `${leaked.length} request(s) carried the access token to ${target.url}`)
    for (const run of runs) {
      const text = JSON.stringify(run.results)
      assert.ok(!text.includes(TOKEN), `${run.name}: the access token is in a result line`)
      assert.ok(!JSON.stringify(run.plan).includes(TOKEN), `${run.name}: the access token is in a plan line`)
    }
  })
})

describe('a request waiting to retry does not hold a concurrency slot', { skip }, () => {
  let mock
  before(async () => {
    pkg = await loadPkg()
    mock = await startMockSnap()
  })
  after(() => mock?.close())

  test('concurrency 1: the second event goes out while the first waits out its Retry-After', async () => {
    const dest = pkg.createDestination({ destination: DESTINATION, settings: { ...SETTINGS }, baseUrl: mock.url })
    mock.enqueue({ status: 429, headers: { 'retry-after': '1' }, body: snapInvalid('Rate limit exceeded') })
    const results = await dest.send([webEvent('Order Completed', 'wait-1'), webEvent('Order Completed', 'wait-2')], { ...SEND, concurrency: 1 })
    assert.deepEqual(results.map((r) => [r.messageId, r.delivered, r.attempts]), [['wait-1', true, 2], ['wait-2', true, 1]])
    const order = mock.requests.map((r) => r.json?.data?.[0]?.event_id)
    assert.deepEqual(order, ['wait-1', 'wait-2', 'wait-1'], 'wait-2 should be sent during wait-1\'s 1 s Retry-After, not after it')
  })
})

function* eachLine() {
  const by = server.requestsFor()
  for (const run of runs) for (const [i, line] of run.results.entries()) yield { line, last: by.get(run.events[i].messageId)?.at(-1) }
}

// Figures for docs/reliability.md.
function printSummary() {
  if (!server || !runs.length) return
  const lines = runs.flatMap((r) => r.results)
  const failed = {}
  for (const l of lines) if (l.delivered === false) {
    const k = `${l.error?.code}${l.status ? ` ${l.status}` : ''}${l.error?.retryable ? ' (retryable)' : ''}`
    failed[k] = (failed[k] ?? 0) + 1
  }
  const summary = {
    seed: SEED,
    events: lines.length,
    sendOptions: SEND,
    runs: runs.map((r) => {
      const p = server.phases.find((x) => x.name === r.name)
      return { name: r.name, events: r.events.length, ms: r.ms, requests: p?.requests, maxInFlight: p?.maxInFlight, maxOpenIncludingAbandoned: p?.maxOpen }
    }),
    requests: server.requests.length,
    requestsToRedirectTarget: target.requests.length,
    faults: server.faultCounts(),
    delivered: lines.filter((l) => l.delivered === true).length,
    // reported delivered although the configured origin answered the last attempt with a 3xx
    deliveredAfterRedirect: [...eachLine()].filter(({ line, last }) => line.delivered === true && REDIRECTS.has(last?.fault)).length,
    failedByCode: failed,
    sentAgainAfter2xx: server.seenAfterAccept.length,
    timedOutLeftOpen: server.requests.filter((r) => r.fault === 'timeout' && r.closedBy !== 'client').length
  }
  console.log(`fault-run summary ${JSON.stringify(summary, null, 2)}`)
}
