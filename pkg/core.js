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

// JSON.stringify turns undefined array slots into null; keep non-object events as they are
// so Rust can report them per event.
function eventsJson(events) {
  if (!Array.isArray(events)) throw new TypeError('events must be an array')
  return JSON.stringify(events, (_k, v) => (typeof v === 'bigint' ? Number(v) : v))
}

/** Builds the public API over an initialised wasm module (getWasm returns its exports). */
export function makeApi(getWasm) {
  function createDestination(options) {
    const wasm = getWasm()
    const inner = call(() => new wasm.Destination(JSON.stringify(options ?? {})))
    return {
      plan(events) {
        return JSON.parse(call(() => inner.plan(eventsJson(events))))
      },
      async send(events, options = {}) {
        try {
          return JSON.parse(await inner.send(eventsJson(events), JSON.stringify(options ?? {})))
        } catch (e) {
          rethrow(e)
        }
      },
      free() {
        inner.free()
      }
    }
  }
  function transform(mapping, payload) {
    const wasm = getWasm()
    // Only `undefined` stands for an empty payload (as in actions-core); null is an error there.
    return JSON.parse(call(() => wasm.transform(JSON.stringify(mapping), JSON.stringify(payload === undefined ? {} : payload))))
  }
  function matchesTrigger(fql, event) {
    const wasm = getWasm()
    // A missing event matches nothing (JSON null), never an empty object.
    return call(() => wasm.matchesTrigger(String(fql), JSON.stringify(event === undefined ? null : event)))
  }
  function presets(destination) {
    const wasm = getWasm()
    return JSON.parse(call(() => wasm.presets(String(destination))))
  }
  return { createDestination, transform, matchesTrigger, presets }
}
