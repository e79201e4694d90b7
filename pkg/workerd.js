// Cloudflare Workers / workerd entry: the runtime (wrangler's CompiledWasm rule) gives the
// .wasm import as a WebAssembly.Module, so initialisation is synchronous.
import * as wasm from './wasm/edge_actions.js'
import module from './wasm/edge_actions_bg.wasm'
import { makeApi } from './core.js'

wasm.initSync({ module })

export { EdgeActionsError } from './core.js'
export const { createDestination, transform, matchesTrigger, presets, monitor } = makeApi(() => wasm)
