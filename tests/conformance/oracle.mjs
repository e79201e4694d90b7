// Which implementation of "ours" the conformance suites compare with Segment.
//
//   (default)                  the shipped wasm package: pkg/node.js over pkg/wasm-node/ (`make build`)
//   CONFORMANCE_ORACLE=cargo   the cargo examples `mapping_oracle` / `fql_oracle` (native Rust);
//                              ORACLE_BIN / FQL_ORACLE then name prebuilt binaries instead of `cargo run`
//
// Not a test file itself (no `.test.` in the name), so `node --test tests/conformance/` skips it.
import { existsSync } from 'node:fs'

export const ORACLE = process.env.CONFORMANCE_ORACLE || 'wasm'
if (ORACLE !== 'wasm' && ORACLE !== 'cargo') {
  throw new Error(`CONFORMANCE_ORACLE must be "wasm" or "cargo", got ${JSON.stringify(ORACLE)}`)
}

const ENTRY = new URL('../../pkg/node.js', import.meta.url)
const WASM = new URL('../../pkg/wasm-node/edge_actions_bg.wasm', import.meta.url)
let pkg

/**
 * The npm package's Node entry (`transform`, `matchesTrigger`, `EdgeActionsError`), imported on
 * first use. Rejects, so the calling test FAILS (never skips), when the package is not there.
 */
export function loadPackage() {
  pkg ??= (async () => {
    if (!existsSync(ENTRY)) throw new Error(`conformance: ${ENTRY.pathname} is missing (or set CONFORMANCE_ORACLE=cargo)`)
    if (!existsSync(WASM)) {
      throw new Error(`conformance: ${WASM.pathname} is missing: run \`make build\` first (or set CONFORMANCE_ORACLE=cargo)`)
    }
    return import(ENTRY.href)
  })()
  return pkg
}

/**
 * Calls the package; an EdgeActionsError becomes `{error: {code, field, message}}`. Anything
 * else (a wasm trap, a TypeError in the glue) is a bug whatever Segment does: it is rethrown
 * with the offending input so the test fails instead of counting it as "both threw".
 */
export function callPackage(EdgeActionsError, fn, input) {
  try {
    return fn()
  } catch (e) {
    if (e instanceof EdgeActionsError) return { error: { code: e.code, field: e.field, message: e.message } }
    throw new Error(`package threw a non-EdgeActionsError (${e?.name}: ${e?.message}) on ${JSON.stringify(input)}`, { cause: e })
  }
}

/** "12.34%" with two decimals; "n/a" for no cases. */
export const percent = (n, d) => (d ? `${((100 * n) / d).toFixed(2)}%` : 'n/a')
