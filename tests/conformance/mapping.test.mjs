// Conformance: our Rust mapping-kit vs Segment's actions-core `transform`, on generated cases.
// By default ours is the shipped wasm package (pkg/node.js `transform`; run `make build` first).
//
//   node --test tests/conformance/mapping.test.mjs
//   FC_SEED=123 FC_RUNS=20000 node --test tests/conformance/mapping.test.mjs   (replay / scale)
//   CONFORMANCE_ORACLE=cargo ...   (native Rust through `cargo run --example mapping_oracle`)
//   CONFORMANCE_ORACLE=cargo ORACLE_BIN=path/to/mapping_oracle ...   (prebuilt oracle binary)
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { caseArbitrary, cargoOracle, compareBatch, reference, wasmOracle } from './mapping-lib.mjs'
import { ORACLE, percent } from './oracle.mjs'

const SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : Date.now() % 2 ** 31
const RUNS = Number(process.env.FC_RUNS ?? 5000)

// Hand-written cases that pin the behaviour the Snapchat destination relies on.
const FIXED = [
  {
    mapping: {
      email: { '@if': { exists: { '@path': '$.properties.email' }, then: { '@path': '$.properties.email' }, else: { '@path': '$.traits.email' } } },
      contents: { '@arrayPath': ['$.properties.products', { item_id: { '@path': 'product_id' }, quantity: { '@path': 'quantity' } }] },
      click: { '@path': '$.integrations.Snap Conversions Api.click_id' },
      t: { '@template': '{{properties.email}}/{{ missing }}' }
    },
    payload: {
      properties: { email: 'a@b.c', products: [{ product_id: 'p1', quantity: 2 }, { product_id: 'p2' }] },
      traits: { email: 't@b.c' },
      integrations: { 'Snap Conversions Api': { click_id: 'ck' } }
    }
  }
]

test(`mapping-kit conformance vs actions-core (${ORACLE}, FC_SEED=${SEED}, FC_RUNS=${RUNS})`, async () => {
  console.log(`mapping conformance: oracle ${ORACLE}, FC_SEED=${SEED} FC_RUNS=${RUNS}`)
  const cases = [...FIXED, ...fc.sample(caseArbitrary, { seed: SEED, numRuns: RUNS })]
  const started = performance.now()
  const { total, matched, mismatches, unrepresentable } = await compareBatch(cases, ORACLE === 'cargo' ? cargoOracle : wasmOracle)
  const errors = cases.map(reference).filter((r) => 'error' in r).length
  console.log(
    `mapping conformance summary [${ORACLE}]: ${total} cases, ${matched} matched (${percent(matched, total)}), ` +
      `${mismatches.length} mismatches; Segment throws on ${errors}; ${unrepresentable} skipped ` +
      `(Segment's outcome hinges on a lone surrogate); ${Math.round(performance.now() - started)} ms; FC_SEED=${SEED} FC_RUNS=${RUNS}`
  )
  for (const m of mismatches.slice(0, 5)) console.log(JSON.stringify(m))
  assert.equal(mismatches.length, 0, `${mismatches.length} mismatches (FC_SEED=${SEED}); first: ${JSON.stringify(mismatches[0])}`)
})
