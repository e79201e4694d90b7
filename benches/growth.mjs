// Growth: time of plan() (Node) against the number of events, which must stay linear.
//   one call:   plan(events) with all N events at once (up to 100,000: the JSON of 1M events
//               is ~850 MB, beyond V8's maximum string length, so no single call can carry it);
//   batches:    plan() over N events in 1,000-event batches (how the CLI and Workers use it),
//               with the process's RSS afterwards: memory must not grow with N.
// Events: the first N generated events; past 100,000 the 100,000 repeat (same cost per event).
// Prints a table and writes an SVG plot to benches/out/growth.svg.
// Env: BENCH_GROWTH (1000,10000,100000,1000000).
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createDestination } from '../pkg/node.js'
import { loadEvents, median, perSec, report, OUT, SETTINGS, DESTINATION } from './common.mjs'
import { growthSvg } from './plot.mjs'

const SIZES = (process.env.BENCH_GROWTH ?? '1000,10000,100000,1000000').split(',').map(Number)
const DISTINCT = Math.min(100000, Math.max(...SIZES))
const BATCH = 1000
const base = loadEvents(DISTINCT)
const dest = createDestination({ destination: DESTINATION, settings: SETTINGS })
const take = (n) => (n <= base.length ? base.slice(0, n) : Array.from({ length: n }, (_, i) => base[i % base.length]))

// Small sizes are noisy: median of 3; the large ones run once. Wall and CPU time (ms).
function time(fn, n) {
  const runs = n <= 10000 ? 3 : 1
  const wall = []
  const cpu = []
  for (let i = 0; i < runs; i++) {
    const c = process.cpuUsage()
    const t = performance.now()
    fn()
    wall.push(performance.now() - t)
    const d = process.cpuUsage(c)
    cpu.push((d.user + d.system) / 1000)
  }
  return { ms: median(wall), cpuMs: median(cpu) }
}

dest.plan(base.slice(0, BATCH)) // warm-up
const rows = []
for (const n of SIZES) {
  const events = take(n)
  const oneCall = n <= 100000 ? time(() => dest.plan(events), n).ms : null
  const { ms: batched, cpuMs } = time(() => {
    for (let i = 0; i < n; i += BATCH) dest.plan(events.slice(i, i + BATCH))
  }, n)
  const rssMb = process.memoryUsage().rss / 2 ** 20
  rows.push({ n, oneCallMs: oneCall, batchedMs: batched, batchedCpuMs: cpuMs, batchedPerSec: perSec(n, batched), usPerEvent: (batched * 1000) / n, cpuUsPerEvent: (cpuMs * 1000) / n, rssMb })
}

const fmt = (x, d = 0) => (x == null ? 'n/a' : x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }))
console.log('| events | one plan() call | in 1,000-event batches | events/s | µs/event | CPU µs/event | RSS after |')
console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
for (const r of rows) {
  console.log(`| ${fmt(r.n)} | ${r.oneCallMs == null ? 'n/a' : fmt(r.oneCallMs) + ' ms'} | ${fmt(r.batchedMs)} ms | ${fmt(r.batchedPerSec)} | ${fmt(r.usPerEvent)} | ${fmt(r.cpuUsPerEvent)} | ${fmt(r.rssMb)} MB |`)
}
writeFileSync(join(OUT, 'growth.svg'), growthSvg(rows))
console.log(`plot: ${join(OUT, 'growth.svg')}`)
report({ name: 'growth', rows })
