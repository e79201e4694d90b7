// One `edge-actions plan` worker thread (pkg/cli.js, --workers N > 1): its own wasm instance
// and destination, planning the NDJSON chunks the main thread sends it (bytes, transferred).
// The output goes back as the core's string: sent as transferred UTF-8 bytes instead, the dead
// buffers piled up in the main thread between its GCs (1,000,000 events into a slow reader:
// 164-172 MB peak RSS against 143 MB), for no measurable CPU saved.
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
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString()
    const { output, counts } = dest.planNdjson(text, { firstLine })
    parentPort.postMessage({ seq, output, counts })
  } catch (e) {
    parentPort.postMessage({ seq, error: plain(e) })
  }
})
