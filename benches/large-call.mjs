// Single large plan() calls in one process, first and repeated, at growing sizes: the first
// call of a new size grows wasm memory, which once cost a full V8 GC per few 64 KB grows.
//   node --trace-gc benches/large-call.mjs | grep -c Mark-Compact    # full GCs
//   node benches/large-call.mjs
import { createDestination } from '../pkg/node.js'
import { generateEvents } from '../tests/differential/generate.mjs'

const events = generateEvents(10000, 1234)
const dest = createDestination({ destination: 'snap-conversions-api', settings: { pixel_id: 'px', snap_app_id: 'app', access_token: 'bench-token' } })
for (const n of [5000, 10000, 10000, 20000, 20000]) {
  const batch = n <= events.length ? events.slice(0, n) : [...events, ...events].slice(0, n)
  const t = performance.now()
  const lines = dest.plan(batch)
  const m = process.memoryUsage()
  console.log(`${n} events: ${(performance.now() - t).toFixed(0)} ms, ${lines.length} lines, rss ${(m.rss / 1e6).toFixed(0)} MB, external (wasm memory) ${(m.external / 1e6).toFixed(0)} MB`)
}
