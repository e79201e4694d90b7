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
writeFileSync(join(OUT, 'growth.svg'), svg(rows))
console.log(`plot: ${join(OUT, 'growth.svg')}`)
report({ name: 'growth', rows })

// Log-log plot of time against events; a straight line of slope 1 is linear growth.
function svg(rows) {
  const W = 640, H = 400, L = 70, R = 20, T = 40, B = 50
  const pts = rows.flatMap((r) => [r.batchedMs, r.oneCallMs].filter((v) => v != null))
  const xs = rows.map((r) => r.n)
  const lx0 = Math.floor(Math.log10(Math.min(...xs))), lx1 = Math.ceil(Math.log10(Math.max(...xs)))
  const ly0 = Math.floor(Math.log10(Math.min(...pts))), ly1 = Math.ceil(Math.log10(Math.max(...pts)))
  const X = (n) => L + ((Math.log10(n) - lx0) / (lx1 - lx0 || 1)) * (W - L - R)
  const Y = (ms) => H - B - ((Math.log10(ms) - ly0) / (ly1 - ly0 || 1)) * (H - T - B)
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`, `<rect width="${W}" height="${H}" fill="white"/>`]
  out.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">edge-actions plan() in Node: time vs events (log-log)</text>`)
  for (let e = lx0; e <= lx1; e++) out.push(`<line x1="${X(10 ** e)}" y1="${T}" x2="${X(10 ** e)}" y2="${H - B}" stroke="#ddd"/><text x="${X(10 ** e)}" y="${H - B + 18}" text-anchor="middle">${fmt(10 ** e)}</text>`)
  for (let e = ly0; e <= ly1; e++) out.push(`<line x1="${L}" y1="${Y(10 ** e)}" x2="${W - R}" y2="${Y(10 ** e)}" stroke="#ddd"/><text x="${L - 6}" y="${Y(10 ** e) + 4}" text-anchor="end">${fmt(10 ** e)} ms</text>`)
  out.push(`<text x="${W / 2}" y="${H - 12}" text-anchor="middle">events</text>`)
  // Linear reference through the smallest batched point.
  const r0 = rows[0]
  const lin = (n) => (r0.batchedMs * n) / r0.n
  out.push(`<line x1="${X(r0.n)}" y1="${Y(lin(r0.n))}" x2="${X(rows.at(-1).n)}" y2="${Y(lin(rows.at(-1).n))}" stroke="#999" stroke-dasharray="4 4"/>`)
  const series = [['batchedMs', '#1f77b4', 'plan() in 1,000-event batches'], ['oneCallMs', '#d62728', 'one plan() call']]
  series.forEach(([key, color, label], i) => {
    const p = rows.filter((r) => r[key] != null).map((r) => `${X(r.n).toFixed(1)},${Y(r[key]).toFixed(1)}`)
    out.push(`<polyline points="${p.join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>`)
    for (const q of p) out.push(`<circle cx="${q.split(',')[0]}" cy="${q.split(',')[1]}" r="3" fill="${color}"/>`)
    out.push(`<text x="${L + 10}" y="${T + 16 + i * 16}" fill="${color}">${label}</text>`)
  })
  out.push(`<text x="${L + 10}" y="${T + 48}" fill="#999">dashed: linear (slope 1)</text>`, '</svg>')
  return out.join('\n') + '\n'
}
