// One `edge-actions plan` worker thread (pkg/cli.js, --workers N > 1): its own wasm instance
// and destination, planning the NDJSON chunks the main thread sends it. Bytes both ways, both
// transferred: the core reads the chunk's UTF-8 and writes the output's, so no thread decodes
// or encodes UTF-8 in JS (about 4 µs per event each way with non-ASCII text, Node 20/22).
import { parentPort, workerData } from 'node:worker_threads'
import * as wasm from './wasm-node/edge_actions.js'
import { makeApi } from './core.js'

// The main thread's compiled module: its machine code is shared, not compiled again per thread.
wasm.initSync({ module: workerData.module })
const { createDestination } = makeApi(() => wasm)

// Errors cross to the main thread as plain objects (pkg/cli.js shows them as it shows its own).
const plain = (e) => ({ name: e?.name, code: e?.code, field: e?.field, message: e?.message, stack: String(e?.stack ?? e) })

let dest
try {
  dest = createDestination(workerData.options)
  parentPort.postMessage({ ready: true })
} catch (e) {
  parentPort.postMessage({ seq: -1, error: plain(e) })
}

parentPort.on('message', ({ seq, bytes, firstLine }) => {
  try {
    const { output, counts } = dest.planNdjsonBytes(bytes, { firstLine })
    parentPort.postMessage({ seq, output, counts }, [output.buffer])
  } catch (e) {
    parentPort.postMessage({ seq, error: plain(e) })
  }
})
