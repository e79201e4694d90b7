// Differential checks of the two building blocks on the generated events:
//   matchesTrigger(fql, event)  vs  destination-subscriptions validate(parseFql(fql), event)
//   transform(mapping, event)   vs  actions-core mapping-kit transform(mapping, event)
// These localise a mismatch found by snap.test.mjs (trigger? mapping? or the action itself?).
//   node --test tests/differential/building-blocks.test.mjs
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'

import { generateEvents, resolveSeed } from './generate.mjs'
import { jsonDiff, genericPath, short } from './compare.mjs'
import { loadPkg, pkgAvailable, PKG_MISSING_REASON } from '../support/load-pkg.mjs'
import { snapDefaultMapping, snapPresetSubscriptions } from '../support/segment-reference.mjs'

const require = createRequire(import.meta.url)
const { parseFql, validate } = require('@segment/destination-subscriptions')
const core = require('@segment/actions-core')

const N = Number(process.env.DIFF_N || 3000)
const SEED = resolveSeed()
const skip = pkgAvailable() ? false : PKG_MISSING_REASON
const isObj = (e) => e !== null && typeof e === 'object' && !Array.isArray(e)

const FQLS = [
  ...snapPresetSubscriptions().map((s) => s.subscribe),
  'type = "track" or type = "identify" or type = "group" or type = "page" or type = "alias"',
  'type = "track" and event = "Order Completed"',
  'type = "track" and (event = "Order Completed" or event = "Checkout Started")',
  'event != "Order Completed"',
  'type = "page" and not (name = "Home")',
  'properties.revenue > 100',
  'properties.currency = "USD"',
  'properties.email exists',
  'traits.email exists',
  'context.device.advertisingId exists',
  'event contains "Product"',
  'event match "Product*"',
  'userId = "user-1"',
  'properties.quantity >= 3 and properties.quantity < 10',
  'context.app.namespace = "com.example.ios" or context.os.name = "Android"'
]

test('matchesTrigger agrees with destination-subscriptions on generated events', { skip }, async () => {
  const { matchesTrigger } = await loadPkg()
  const events = generateEvents(N, SEED).filter(isObj)
  const parsed = FQLS.map((f) => [f, parseFql(f)])
  let compared = 0
  const bad = new Map()
  for (const [fql, ir] of parsed) {
    if (ir.error) throw new Error(`reference cannot parse ${fql}: ${ir.error.message}`)
    for (const e of events) {
      let want
      try {
        want = validate(ir, e)
      } catch {
        continue // the reference itself crashes (e.g. context: null); nothing to compare
      }
      let got
      try {
        got = matchesTrigger(fql, e)
      } catch (err) {
        got = `throws: ${err.message}`
      }
      compared++
      if (got !== want) {
        const k = `${fql}  -> segment ${want}, ours ${short(got, 80)}`
        if (!bad.has(k)) bad.set(k, { count: 0, example: e })
        bad.get(k).count++
      }
    }
  }
  const lines = [...bad].map(([k, v]) => `${String(v.count).padStart(5)}  ${k}\n       e.g. ${short(v.example, 300)}`)
  console.log(`matchesTrigger: seed=${SEED} compared=${compared} mismatched=${[...bad.values()].reduce((s, v) => s + v.count, 0)}${lines.length ? '\n' + lines.join('\n') : ''}`)
  assert.equal(bad.size, 0, `matchesTrigger disagrees with Segment:\n${lines.slice(0, 10).join('\n')}`)
})

test('matchesTrigger throws on invalid FQL', { skip }, async () => {
  const { matchesTrigger } = await loadPkg()
  for (const fql of ['= "x"', 'event = "unterminated', '(type = "track"', '']) {
    assert.ok(parseFql(fql).error, `reference should reject ${fql}`)
    assert.throws(() => matchesTrigger(fql, { type: 'track' }), undefined, fql)
  }
})

test('transform(default Snap mapping) agrees with actions-core on generated events', { skip }, async () => {
  const { transform } = await loadPkg()
  const mapping = snapDefaultMapping()
  const events = generateEvents(N, SEED).filter(isObj)
  const groups = new Map()
  let compared = 0
  for (const e of events) {
    let want
    try {
      want = JSON.parse(JSON.stringify(core.transform(mapping, structuredClone(e))))
    } catch (err) {
      want = { __throws: err.message }
    }
    let got
    try {
      got = transform(mapping, e)
    } catch (err) {
      got = { __throws: err.message }
    }
    compared++
    const diffs = jsonDiff(want, got, '$')
    if (diffs.length) {
      const d = diffs[0]
      const k = genericPath(d.path)
      if (!groups.has(k)) groups.set(k, { count: 0, example: { d, e } })
      groups.get(k).count++
    }
  }
  const lines = [...groups].sort((a, b) => b[1].count - a[1].count).map(([k, v]) => `${String(v.count).padStart(5)}  ${k}: segment=${short(v.example.d.oracle, 100)} ours=${short(v.example.d.ours, 100)}`)
  console.log(`transform: seed=${SEED} compared=${compared} mismatched=${[...groups.values()].reduce((s, v) => s + v.count, 0)}${lines.length ? '\n' + lines.join('\n') : ''}`)
  assert.equal(groups.size, 0, `transform disagrees with actions-core:\n${lines.slice(0, 10).join('\n')}`)
})
