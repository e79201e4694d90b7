// The execution context actions-core's `executeAction` / `executeBatch` take besides the event,
// mapping, settings and auth: empty features and state, and the caller's logger. One place for
// the differential oracles and the Node bench, so they call Segment the same way.
export function segmentContext(logger) {
  return { features: {}, statsContext: {}, logger, transactionContext: {}, stateContext: {}, subscriptionMetadata: {} }
}
