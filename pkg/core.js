// Shared glue for every runtime entry. It only moves JSON across the boundary and turns
// thrown error JSON into EdgeActionsError; all mapping, hashing and delivery is in Rust.

export class EdgeActionsError extends Error {
  constructor(detail) {
    super(detail.message)
    this.name = 'EdgeActionsError'
    this.code = detail.code
    if (detail.field !== undefined) this.field = detail.field
  }
}

function rethrow(e) {
  if (typeof e === 'string') {
    let detail
    try {
      detail = JSON.parse(e)
    } catch {
      throw new Error(e)
    }
    throw new EdgeActionsError(detail)
  }
  throw e
}

function call(fn) {
  try {
    return fn()
  } catch (e) {
    rethrow(e)
  }
}

// Why one event could not be serialized, without echoing its content.
function serializeFailure(e) {
  if (e instanceof RangeError) return 'The event is nested too deeply to serialize (JSON.stringify: maximum call stack size exceeded)'
  if (e instanceof TypeError && /circular/i.test(e.message)) return 'The event contains a circular reference'
  return `The event cannot be serialized as JSON (${e?.name ?? 'error'})`
}

const bigintAsNumber = (_k, v) => (typeof v === 'bigint' ? Number(v) : v)

// Each event is serialized on its own, so one that cannot be (a cycle, nesting too deep for
// JSON.stringify, a throwing toJSON) becomes its own INVALID_EVENT line and the others go
// through: it is sent as `!` + {message, messageId}, which Rust reads as a rejection at that
// position. undefined / functions become null as in JSON.stringify(array); non-objects go
// through as they are so Rust reports them per event.
function eventsJson(events) {
  if (!Array.isArray(events)) throw new TypeError('events must be an array')
  // The usual batch in one native call, without a replacer (a replacer function runs for every
  // key and cost more than the rest of the call). Whatever it cannot serialize (a BigInt, a
  // cycle, a throwing toJSON) sends the batch down the per-event path below, so a bad event
  // still fails alone; a toJSON may then run twice.
  if (typeof events.toJSON !== 'function') {
    try {
      return JSON.stringify(events)
    } catch {}
  }
  const parts = new Array(events.length)
  for (let i = 0; i < events.length; i++) {
    const ev = events[i]
    try {
      parts[i] = JSON.stringify(ev, bigintAsNumber) ?? 'null'
    } catch (e) {
      let messageId = null
      try {
        const id = ev?.messageId
        if (typeof id === 'string') messageId = id
      } catch {}
      parts[i] = '!' + JSON.stringify({ message: serializeFailure(e), messageId })
    }
  }
  return '[' + parts.join(',') + ']'
}

// Configuration (options, mappings) is small: walk it without recursion so nesting past the
// core's JSON limit is named as such, not as JSON.stringify's stack overflow. Cycles are left
// for JSON.stringify to report.
const MAX_CONFIG_DEPTH = 128
function tooDeep(v) {
  const stack = [[v, 1]]
  const seen = new Set()
  while (stack.length) {
    const [x, d] = stack.pop()
    if (x === null || typeof x !== 'object' || seen.has(x)) continue
    if (d > MAX_CONFIG_DEPTH) return true
    seen.add(x)
    for (const k in x) if (Object.prototype.hasOwnProperty.call(x, k)) stack.push([x[k], d + 1])
  }
  return false
}

function configJson(v, what, code) {
  if (tooDeep(v)) throw new EdgeActionsError({ code, message: `${what} is nested deeper than ${MAX_CONFIG_DEPTH} levels (the limit)` })
  return valueJson(v, what, code)
}

// A single value for transform / matchesTrigger: one that cannot be serialized (a cycle, nesting
// too deep for JSON.stringify, a BigInt) is an EdgeActionsError like any other bad input, never a
// RangeError or TypeError from JSON.stringify. undefined, a function or a Symbol becomes null.
function valueJson(v, what = 'value', code = 'INVALID_EVENT') {
  try {
    return JSON.stringify(v) ?? 'null'
  } catch (e) {
    throw new EdgeActionsError({ code, message: serializeFailure(e).replace('The event', `The ${what}`) })
  }
}

// `send` delivers through a request function: (method, url, [name, value, ...], body,
// timeoutMs) -> a promise that always resolves, to [status, retryAfter, location, body,
// x-ratelimit-retry-after, x-ratelimit-remaining, x-ratelimit-reset] (Braze sends the
// X-RateLimit-* headers instead of Retry-After), [NETWORK, message] or [TIMEOUT] (no complete answer within timeoutMs; the request is aborted).
// Redirects are never followed: the URL carries the access token. The core does everything
// else (classification, retries, Retry-After, rate limits, results).
export const NETWORK = -1
export const TIMEOUT = -2

export const errorText = (e) => `${e?.name ?? 'Error'}: ${e?.message ?? String(e)}`

/** The request function over global `fetch` (workerd, browsers). */
export async function fetchRequest(method, url, headers, body, timeoutMs) {
  const abort = new AbortController()
  let timedOut = false
  // Aborted on timeout: otherwise the connection (and a concurrency slot's socket on the
  // server) stays open until the server gives up.
  const timer = setTimeout(() => {
    timedOut = true
    abort.abort()
  }, timeoutMs)
  try {
    const h = new Headers()
    for (let i = 0; i < headers.length; i += 2) h.set(headers[i], headers[i + 1])
    // A GET (a lookup) has no body.
    const res = await fetch(url, { method, headers: h, body: method === 'GET' ? undefined : body, redirect: 'manual', signal: abort.signal })
    // A body that cannot be read leaves the status to speak for itself.
    const text = await res.text().catch(() => '')
    if (timedOut) return [TIMEOUT]
    const hd = (k) => res.headers.get(k)
    return [res.status, hd('retry-after'), hd('location'), text, hd('x-ratelimit-retry-after'), hd('x-ratelimit-remaining'), hd('x-ratelimit-reset')]
  } catch (e) {
    return timedOut ? [TIMEOUT] : [NETWORK, errorText(e)]
  } finally {
    clearTimeout(timer)
  }
}

function counted(pair) {
  return { output: pair[0], counts: JSON.parse(pair[1]) }
}

/**
 * Builds the public API over an initialised wasm module (getWasm returns its exports);
 * `request` is the runtime's request function (see fetchRequest).
 */
export function makeApi(getWasm, { request = fetchRequest } = {}) {
  function createDestination(options) {
    const wasm = getWasm()
    const inner = call(() => new wasm.Destination(configJson(options ?? {}, 'options', 'INVALID_CONFIG')))
    return {
      plan(events) {
        return JSON.parse(call(() => inner.plan(eventsJson(events))))
      },
      async send(events, options = {}) {
        try {
          return JSON.parse(await inner.send(eventsJson(events), JSON.stringify(options ?? {}), request))
        } catch (e) {
          rethrow(e)
        }
      },
      // NDJSON text in, NDJSON text out (one line per plan/send line, as JSON.stringify would
      // print it) plus counts: for streams, with no per-event JSON work in JS.
      planNdjson(ndjson, { firstLine = 1 } = {}) {
        return counted(call(() => inner.planNdjson(String(ndjson), firstLine)))
      },
      // planNdjson() on UTF-8 bytes (a Buffer or Uint8Array), the output as bytes: what a
      // stream pipeline holds, with no UTF-8 decode or encode in JS (pkg/cli.js uses it).
      planNdjsonBytes(bytes, { firstLine = 1 } = {}) {
        if (!(bytes instanceof Uint8Array)) throw new TypeError('planNdjsonBytes takes a Uint8Array (or Buffer) of UTF-8 NDJSON')
        return counted(call(() => inner.planNdjsonBytes(bytes, firstLine)))
      },
      async sendNdjson(ndjson, options = {}, { firstLine = 1 } = {}) {
        try {
          return counted(await inner.sendNdjson(String(ndjson), firstLine, JSON.stringify(options ?? {}), request))
        } catch (e) {
          rethrow(e)
        }
      },
      // send() plus the monitoring record of what was delivered (docs/monitoring.md): built
      // on send() itself (`record: true` makes the core add it as a last line), so a recorded
      // send goes exactly the way a plain one does.
      async sendWithRecord(events, options = {}) {
        const lines = await this.send(events, { ...options, record: true })
        return { lines, record: lines.pop().record }
      },
      async sendNdjsonWithRecord(ndjson, options = {}, opts = {}) {
        const { output, counts } = await this.sendNdjson(ndjson, { ...options, record: true }, opts)
        const cut = output.lastIndexOf('\n', output.length - 2)
        return { output: output.slice(0, cut + 1), counts, record: JSON.parse(output.slice(cut + 1)).record }
      },
      free() {
        inner.free()
      }
    }
  }
  function transform(mapping, payload) {
    const wasm = getWasm()
    // Only `undefined` stands for an empty payload (as in actions-core); null is an error there.
    return JSON.parse(call(() => wasm.transform(configJson(mapping, 'mapping', 'MAPPING_ERROR'), valueJson(payload === undefined ? {} : payload))))
  }
  function matchesTrigger(fql, event) {
    const wasm = getWasm()
    // A missing event matches nothing (JSON null), never an empty object.
    return call(() => wasm.matchesTrigger(String(fql), valueJson(event === undefined ? null : event)))
  }
  function presets(destination) {
    const wasm = getWasm()
    return JSON.parse(call(() => wasm.presets(String(destination))))
  }
  // The monitor's decisions (pkg/monitor.js does the I/O): records and configs as JSON values.
  const monitor = {
    mergeRecords(records) {
      return JSON.parse(call(() => getWasm().monitorMerge(configJson(records, 'records', 'INVALID_CONFIG'))))
    },
    plan(config, record, day) {
      return JSON.parse(call(() => getWasm().monitorPlan(configJson(config, 'monitor configuration', 'INVALID_CONFIG'), valueJson(record ?? null, 'record', 'INVALID_CONFIG'), String(day))))
    },
    evaluate(config, record, day, responses) {
      const w = getWasm()
      return JSON.parse(call(() => w.monitorEvaluate(configJson(config, 'monitor configuration', 'INVALID_CONFIG'), valueJson(record ?? null, 'record', 'INVALID_CONFIG'), String(day), valueJson(responses ?? {}, 'responses', 'INVALID_CONFIG'))))
    }
  }
  return { createDestination, transform, matchesTrigger, presets, monitor }
}
