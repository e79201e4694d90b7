// Node entry: the wasm is read from disk and instantiated synchronously on import.
import { readFileSync } from 'node:fs'
import * as wasm from './wasm/edge_actions.js'
import { makeApi } from './core.js'

wasm.initSync({ module: readFileSync(new URL('./wasm/edge_actions_bg.wasm', import.meta.url)) })

export { EdgeActionsError } from './core.js'
export const { createDestination, transform, matchesTrigger, presets, monitor } = makeApi(() => wasm)
