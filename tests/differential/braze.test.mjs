// Differential test: our package's dest.plan() vs Segment's own Braze Cloud Mode (Actions)
// destination (the oracle), on generated identify / track / ecommerce / alias events, for the
// presets (default subscriptions) and for subscriptions reaching every other action we support
// (v2 sync modes, purchases, aliases, identifies, alias-keyed events, extra profile fields).
//
//   node --test tests/differential/braze.test.mjs
//   DIFF_N=10000 DIFF_SEED=123 DIFF_VERBOSE=1 node --test tests/differential/braze.test.mjs
//
// Same comparison as the Snap test (harness.mjs): request method, URL and body field by field;
// rejections by outcome. One request per event on both sides (batch_size 1, Segment's
// single-event path).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'

import { resolveSeed } from './generate.mjs'
import { generateBrazeEvents } from './generate-braze.mjs'
import { createOracle } from './oracle.mjs'
import { runPass } from './harness.mjs'
import { braze, presetSubscriptions, extraSubscriptions, DELIBERATE, API_KEY, US, EU } from './braze-setup.mjs'
import { pkgAvailable, PKG_MISSING_REASON } from '../support/load-pkg.mjs'

// The catalog item a line's request writes (`catalogs/{catalog}/items/{id}`), if any.
function catalogItem(line) {
  const r = line.request
  const m = r && /\/catalogs\/([^/]+)\/items\/([^/?#]*)$/.exec(new URL(r.url).pathname)
  if (!m) return undefined
  return `${m[1]}/${m[2] || r.body?.items?.[0]?.id}`
}

// docs/compatibility.md: of several writes of one catalog item in a call only the latest is
// sent, in the first one's place; the earlier events ride in its request. A model of that rule
// applied to the per-event lines, which plan(all events) must equal.
let superseded = 0
export function supersedeCatalogWrites(lines) {
  const out = lines.map((l) => ({ ...l }))
  const first = new Map()
  out.forEach((line, i) => {
    const key = catalogItem(lines[i])
    if (key === undefined) return
    if (!first.has(key)) return first.set(key, i)
    const carrier = out[first.get(key)]
    carrier.request = line.request
    carrier.messageIds = [...(carrier.messageIds ?? [carrier.messageId]), line.messageId]
    out[i] = { messageId: line.messageId, subscription: line.subscription, batchedWith: carrier.messageId }
    superseded++
  })
  return out
}

const N = Number(process.env.DIFF_N || 3000)
const SEED = resolveSeed()

const PASSES = [
  { name: 'braze presets (default subscriptions), US endpoint with app_id', settings: US, subscriptions: presetSubscriptions(), useDefaultSubscriptions: true, n: N },
  { name: 'braze every other action (v2 sync modes, purchases, aliases, identifies), EU endpoint', settings: EU, subscriptions: extraSubscriptions(), n: N, catalog: true }
]

for (const pass of PASSES) {
  test(`differential: ${pass.name}`, { skip: pkgAvailable() ? false : PKG_MISSING_REASON, timeout: 10 * 60 * 1000 }, async () => {
    superseded = 0
    const { totals, groups, structural, batchDiff, file } = await runPass({
      name: pass.name,
      seed: SEED,
      events: generateBrazeEvents(pass.n, SEED),
      oracle: createOracle({ settings: pass.settings, subscriptions: pass.subscriptions, definition: braze, origin: pass.settings.endpoint, reply: { message: 'success' }, secret: API_KEY }),
      destOpts: { destination: 'braze', settings: pass.settings },
      subscriptions: pass.subscriptions,
      useDefaultSubscriptions: pass.useDefaultSubscriptions,
      deliberate: DELIBERATE,
      batchOf: supersedeCatalogWrites
    })
    assert.ok(totals.bothPlanned > pass.n / 10, `too few planned pairs to compare: ${totals.bothPlanned}`)
    const top = [...groups.entries()].sort((a, b) => b[1].count - a[1].count).slice(0, 10).map(([s, g]) => `${g.count}x ${s}`)
    assert.equal(totals.mismatched, 0, `${totals.mismatched} mismatched (event, subscription) pairs; report: ${path.relative(process.cwd(), file)}\n${top.join('\n')}`)
    assert.equal(structural.length, 0, 'plan() line stream problems')
    assert.equal(batchDiff.length, 0, `plan(events) differs from per-event plan([e]) concatenated, first at ${batchDiff[0]?.path}`)
    // The catalog rule was exercised: the generated items repeat.
    if (pass.catalog) assert.ok(superseded > 10, `only ${superseded} superseded catalog writes`)
  })
}
