// Browser entry: call `await init()` once (it fetches the .wasm next to this file, or the
// URL/Response/bytes you pass), then use the API synchronously.
import initWasm, * as wasm from './wasm/edge_actions.js'
import { makeApi } from './core.js'

let ready = null
let initialised = false

export function init(input) {
  ready ??= initWasm(input ? { module_or_path: input } : { module_or_path: new URL('./wasm/edge_actions_bg.wasm', import.meta.url) }).then(() => {
    initialised = true
  })
  return ready
}

function getWasm() {
  if (!initialised) throw new Error('edge-actions: call `await init()` before using the API in the browser')
  return wasm
}

export { EdgeActionsError } from './core.js'
export const { createDestination, transform, matchesTrigger, presets, monitor } = makeApi(getWasm)
