// Bench Worker (benches/workerd-bench.mjs): POST { settings, events, iterations } plans the
// same batch `iterations` times with the package's workerd entry and answers with the line
// count. Timing happens outside: inside workerd the clock only moves on I/O.
import { createDestination } from '../pkg/workerd.js'

export default {
  async fetch(request) {
    const { settings, events, iterations, text } = await request.json()
    const dest = createDestination({ destination: 'snap-conversions-api', settings })
    let lines = 0
    if (text) {
      // The text path: the batch as NDJSON, as a Worker holding a request body or queue
      // message text has it (no JSON.stringify in, no JSON.parse out).
      const ndjson = events.map((e) => JSON.stringify(e)).join('\n')
      let out = null
      for (let i = 0; i < iterations; i++) out = dest.planNdjson(ndjson)
      if (out) lines = out.output.split('\n').length - 1
    } else for (let i = 0; i < iterations; i++) lines = dest.plan(events).length
    return new Response(JSON.stringify({ lines }), { headers: { 'content-type': 'application/json' } })
  }
}
