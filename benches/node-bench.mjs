// Side-by-side in one process: our wasm package's plan() vs Segment's own destination
// (actions-core executeAction with HTTP intercepted by nock) on the same generated events.
// Reports events/s for each and the ratio. Warm-up once; best of 3 runs each.
import { createDestination } from '../pkg/node.js'
import { generateEvents } from '../tests/differential/generate.mjs'
import { createOracle, presetSubscriptions, SETTINGS, ACCESS_TOKEN } from '../tests/differential/oracle.mjs'

const N = Number(process.env.BENCH_N ?? 2000)
const events = generateEvents(N, 1234)
const ours = createDestination({ destination: 'snap-conversions-api', settings: { ...SETTINGS, access_token: ACCESS_TOKEN }, subscriptions: presetSubscriptions() })
const oracle = createOracle()

async function best(fn, runs = 3) {
  await fn()
  let b = Infinity
  for (let i = 0; i < runs; i++) {
    const t = performance.now()
    await fn()
    b = Math.min(b, performance.now() - t)
  }
  return b
}

const oursMs = await best(() => ours.plan(events))
const segMs = await best(() => oracle.planEach(events))
const fmt = (ms) => `${ms.toFixed(1)} ms (${Math.round((N / ms) * 1000)} events/s)`
console.log(`events: ${N}`)
console.log(`edge-actions (wasm, Node ${process.version}): ${fmt(oursMs)}`)
console.log(`Segment action-destinations (same process):  ${fmt(segMs)}`)
console.log(`ratio: edge-actions is ${(segMs / oursMs).toFixed(1)}x the throughput of Segment's implementation`)
