// Local stand-in for a Braze REST endpoint (rest.*.braze.com), for the Node tests and the demo:
// MockSnap's recording server with Braze's answers (201 `{"message":"success"}`; errors carry
// `message`). Same API: requests, enqueue(path?, reply...), setDefault, reset, close.
import { MockSnap } from './mock-snap.mjs'

export const BRAZE_OK_BODY = Object.freeze({ message: 'success' })

// A 2xx answer that rejects some objects: [[array, index, type], ...].
export const brazeErrors = (...errors) => ({
  status: 201,
  body: { message: 'success', errors: errors.map(([input_array, index, type]) => ({ type, input_array, index })) }
})

export class MockBraze extends MockSnap {
  constructor(opts) {
    super(opts)
    this.defaultReply = { status: 201, body: BRAZE_OK_BODY }
  }

  reset() {
    super.reset()
    this.defaultReply = { status: 201, body: BRAZE_OK_BODY }
    return this
  }
}

export async function startMockBraze(opts) {
  return new MockBraze(opts).start()
}
