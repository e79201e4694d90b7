// Loads Segment's actions-core with its network stubbed at the lowest layer it owns: the
// `cross-fetch` module its request client imports (dist/cjs/fetch.js does
// `require("cross-fetch")` and request-client.js calls its default export with a Request).
// The stub answers every request with an immediate 200 `{"status":"VALID"}` built with
// cross-fetch's own Response class, so everything above it (mapping-kit, AJV validation,
// perform, the request client's hooks, timeout handling and response parsing) runs exactly as
// in production. No nock: nock intercepts Node's http module and costs several times more
// than Segment's pipeline itself, so a figure measured through it measures nock.
//
// Call loadSegment() before anything else in the process requires @segment/actions-core.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

export function loadSegment() {
  const coreMain = require.resolve('@segment/actions-core')
  const coreRequire = createRequire(coreMain)
  const crossFetchPath = coreRequire.resolve('cross-fetch')
  if (require.cache[crossFetchPath]) throw new Error('cross-fetch was loaded before the stub: load Segment through loadSegment() first')
  const real = coreRequire('cross-fetch')
  const stats = { calls: 0 }
  const body = JSON.stringify({ status: 'VALID', reason: '' })
  const stub = function fetch(_request) {
    stats.calls++
    return Promise.resolve(new real.Response(body, { status: 200, headers: { 'content-type': 'application/json' } }))
  }
  Object.assign(stub, { fetch: stub, default: stub, Headers: real.Headers, Request: real.Request, Response: real.Response })
  require.cache[crossFetchPath].exports = stub

  const core = coreRequire(coreMain)
  // Prove the stub is what the request client calls (fetch.js re-exports cross-fetch's default).
  const fetchModule = coreRequire('./fetch.js')
  if (fetchModule.default !== stub) throw new Error('actions-core did not pick up the cross-fetch stub')
  const { parseFql, validate } = require('@segment/destination-subscriptions')
  const snap = require('@segment/action-destinations/dist/destinations/snap-conversions-api').default
  return { core, snap, parseFql, validate, stats }
}
