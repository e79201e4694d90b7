// Side by side in one Node process, on the same generated events (benches/common.mjs):
//   edge-actions: createDestination(...).plan(events), one call for the whole batch (and, as a
//   row of its own, planNdjson of the same events as NDJSON text: what a pipeline that holds
//   the events as text pays, without serializing objects in and parsing lines out);
//   Segment: its own snap-conversions-api through actions-core, per event and per subscription
//   whose FQL matches (parseFql once per subscription, validate per event), then
//   Destination.executeAction: mapping-kit, AJV validation, perform, request building and its
//   request client, with the network stubbed below that client (benches/segment-stub.mjs).
// Median of BENCH_RUNS (5) runs of each, interleaved, after a warm-up run. Env: BENCH_N (10000).
import { loadSegment } from './segment-stub.mjs'
import { createDestination } from '../pkg/node.js'
import { loadEvents, medianMsEach, perSec, report, SETTINGS, DESTINATION } from './common.mjs'
import { segmentContext } from '../tests/support/segment-context.mjs'

const N = Number(process.env.BENCH_N ?? 10000)
const events = loadEvents(N)
const { core, snap, parseFql, validate, stats } = loadSegment()

// Segment's presets for the one action both sides implement, in Segment's subscription shape.
const subscriptions = snap.presets
  .filter((p) => p.partnerAction === 'reportConversionEvent')
  .map((p) => ({ name: p.name, subscribe: p.subscribe, partnerAction: p.partnerAction, mapping: p.mapping, enabled: true }))

const ours = createDestination({ destination: DESTINATION, settings: SETTINGS, subscriptions })

const { access_token: accessToken, ...segmentSettings } = SETTINGS
const destination = new core.Destination(snap)
destination.validateSettings(segmentSettings)
const parsed = subscriptions.map((s) => parseFql(s.subscribe))
const noop = () => {}
const logger = { info: noop, error: noop, warn: noop, debug: noop }
const auth = { accessToken, refreshToken: undefined }

async function segmentRun() {
  let requests = 0
  let errors = 0
  for (const event of events) {
    if (event === null || typeof event !== 'object' || Array.isArray(event)) continue
    for (let i = 0; i < subscriptions.length; i++) {
      if (!validate(parsed[i], event)) continue
      try {
        await destination.executeAction(subscriptions[i].partnerAction, {
          event,
          mapping: subscriptions[i].mapping,
          settings: segmentSettings,
          auth,
          ...segmentContext(logger)
        })
        requests++
      } catch {
        errors++
      }
      // actions-core keeps every response on the destination (for its test harness); drop them.
      destination.responses.length = 0
    }
  }
  return { requests, errors }
}

// Sanity: both sides see the same work (request count and error count), and the text API
// writes the same lines as plan() (each as JSON.stringify writes it).
const oursLines = ours.plan(events)
const oursCounts = { requests: oursLines.filter((l) => l.request).length, errors: oursLines.filter((l) => l.error).length }
const ndjson = events.map((e) => JSON.stringify(e)).join('\n')
const textOutput = ours.planNdjson(ndjson).output
if (textOutput !== oursLines.map((l) => JSON.stringify(l) + '\n').join('')) throw new Error('planNdjson and plan() disagree on the bench events')
stats.calls = 0
const segCounts = await segmentRun()
if (stats.calls !== segCounts.requests) throw new Error(`stubbed fetch saw ${stats.calls} requests, executeAction returned ${segCounts.requests}`)

const [oursT, segT, textT] = await medianMsEach([() => ours.plan(events), segmentRun, () => ours.planNdjson(ndjson)])
const result = {
  name: 'node',
  node: process.version,
  events: N,
  ours: { ms: oursT.ms, cpuMs: oursT.cpuMs, samples: oursT.samples, eventsPerSec: perSec(N, oursT.ms), eventsPerCpuSec: perSec(N, oursT.cpuMs), ...oursCounts },
  segment: { ms: segT.ms, cpuMs: segT.cpuMs, samples: segT.samples, eventsPerSec: perSec(N, segT.ms), eventsPerCpuSec: perSec(N, segT.cpuMs), ...segCounts },
  ratio: segT.ms / oursT.ms,
  cpuRatio: segT.cpuMs / oursT.cpuMs,
  text: { ms: textT.ms, cpuMs: textT.cpuMs, eventsPerSec: perSec(N, textT.ms), eventsPerCpuSec: perSec(N, textT.cpuMs), ratio: segT.ms / textT.ms, cpuRatio: segT.cpuMs / textT.cpuMs }
}
console.log(`events: ${N} (Node ${process.version}), median of ${oursT.samples.length}`)
console.log(`edge-actions plan():              ${oursT.ms.toFixed(0)} ms = ${result.ours.eventsPerSec} events/s (CPU ${oursT.cpuMs.toFixed(0)} ms; ${oursCounts.requests} requests, ${oursCounts.errors} errors)`)
console.log(`Segment executeAction (stubbed):  ${segT.ms.toFixed(0)} ms = ${result.segment.eventsPerSec} events/s (CPU ${segT.cpuMs.toFixed(0)} ms; ${segCounts.requests} requests, ${segCounts.errors} errors)`)
console.log(`ratio: ${result.ratio.toFixed(2)}x wall, ${result.cpuRatio.toFixed(2)}x CPU time`)
console.log(`edge-actions planNdjson() (text):  ${textT.ms.toFixed(0)} ms = ${result.text.eventsPerSec} events/s (CPU ${textT.cpuMs.toFixed(0)} ms), ${result.text.ratio.toFixed(2)}x Segment`)
report(result)
