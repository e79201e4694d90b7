// Per-request overhead of `send`: BENCH_SEND_N (3000) one-request events delivered with
// concurrency 6 to an instant local server on 127.0.0.1 (answers 200 as soon as the body is
// read). The events are generated ones that plan to exactly one request each.
// Median of BENCH_RUNS (5) after a warm-up.
import { createServer } from 'node:http'
import { createDestination } from '../pkg/node.js'
import { loadEvents, medianMs, perSec, report, SETTINGS, DESTINATION } from './common.mjs'

const N = Number(process.env.BENCH_SEND_N ?? 3000)
const CONCURRENCY = 6

let received = 0
const server = createServer((req, res) => {
  req.resume()
  req.on('end', () => {
    received++
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end('{"status":"VALID","reason":""}')
  })
})
await new Promise((ok) => server.listen(0, '127.0.0.1', ok))
const baseUrl = `http://127.0.0.1:${server.address().port}`

try {
  const dest = createDestination({ destination: DESTINATION, settings: SETTINGS, baseUrl })
  const single = loadEvents(10000).filter((e) => {
    const lines = dest.plan([e])
    return lines.length === 1 && lines[0].request
  })
  if (!single.length) throw new Error('no generated event plans to exactly one request')
  const events = Array.from({ length: N }, (_, i) => single[i % single.length])

  const sendAll = async () => {
    received = 0
    const results = await dest.send(events, { concurrency: CONCURRENCY })
    const delivered = results.filter((r) => r.delivered).length
    if (delivered !== N || received !== N) throw new Error(`delivered ${delivered}, server saw ${received}, expected ${N}`)
  }
  const t = await medianMs(sendAll)
  const result = { name: 'send', requests: N, concurrency: CONCURRENCY, ms: t.ms, cpuMs: t.cpuMs, requestsPerSec: perSec(N, t.ms), msPerRequestCpu: t.cpuMs / N }
  console.log(`send: ${N} one-event requests, concurrency ${CONCURRENCY}: ${t.ms.toFixed(0)} ms = ${result.requestsPerSec} requests/s (CPU ${t.cpuMs.toFixed(0)} ms, server in the same process)`)
  report(result)
} finally {
  server.close()
}
