import { createHash } from 'node:crypto'
// Differential test: our package's dest.plan() vs Segment's own Snap destination (the oracle).
//
//   node --test tests/differential/snap.test.mjs
//   DIFF_N=10000 DIFF_SEED=123 node --test tests/differential/snap.test.mjs
//   DIFF_VERBOSE=1 ...   prints every mismatch group with an example, and wording differences
//
// For every generated event and every subscription, both sides either plan a request, reject
// the (event, subscription) pair, or do not match it. Planned requests must agree on method, URL
// and body (deep-equal, every differing JSON path is reported); rejections must agree that the
// pair is rejected (wording differences are only logged). Differences listed in DELIBERATE are
// counted separately. A full JSON report of each pass lands in tests/.tmp/.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'

import { generateEvents, resolveSeed } from './generate.mjs'
import { createOracle, presetSubscriptions, extraSubscriptions, SETTINGS, SETTINGS_NO_PIXEL, ACCESS_TOKEN } from './oracle.mjs'
import { runPass, INVALID_ENVELOPE, CONTEXT_NULL } from './harness.mjs'
import { pkgAvailable, PKG_MISSING_REASON } from '../support/load-pkg.mjs'

const N = Number(process.env.DIFF_N || 3000)
const SEED = resolveSeed()

// ------------------------------------------------------------------------------------------------
// Deliberate differences. Each entry recognises one difference `d` and says why we differ.
//   d = { kind: 'body' | 'url' | 'method' | 'outcome', path, oracle, ours }
//   ctx = { event, sub, oracleLine, oursLine, pass }
// For kind 'outcome', d.oracle / d.ours are the line kinds ('request' | 'error' | 'skipped' | 'absent').
// A pair counts as deliberate only when every one of its differences is recognised here.
const sha256 = (v) => createHash('sha256').update(v).digest('hex')
const HEX64 = /^[0-9a-fA-F]{64}$/
export const DELIBERATE = [
  {
    id: 'prehashed-uppercase-hex',
    reason: 'already-hashed upper-case hex: Segment passes the digest through unchanged, we lower-case it because Snap matches lower-case hex',
    applies: (d) =>
      d.kind === 'body' &&
      d.path.includes('.user_data.') &&
      typeof d.oracle === 'string' &&
      HEX64.test(d.oracle) &&
      /[A-F]/.test(d.oracle) &&
      d.ours === d.oracle.toLowerCase()
  },
  INVALID_ENVELOPE,
  {
    id: 'district-of-columbia',
    reason: "Segment's US state table lacks the District of Columbia and hashes 'districtofcolumbia'; we hash its postal code 'dc' as Snap asks",
    applies: (d) => d.kind === 'body' && d.path.endsWith('.user_data.st') && d.ours === sha256('dc') && d.oracle === sha256('districtofcolumbia')
  },
  {
    id: 'numeric-string-timestamp',
    reason:
      "a timestamp that is only digits (\"12\", \"0\", \"-1\"): V8's legacy Date.parse reads it as a calendar date (\"12\" = 2001-12-01); we read it as the epoch number it is",
    applies: (d, ctx) =>
      d.kind === 'body' &&
      d.path.endsWith('.event_time') &&
      /^\s*[+-]?\d+\s*$/.test(String(ctx.event?.timestamp)) &&
      d.ours === Number.parseInt(String(ctx.event.timestamp), 10)
  },
  CONTEXT_NULL
]

const PASSES = [
  { name: 'presets, full settings (default subscriptions)', settings: SETTINGS, subscriptions: presetSubscriptions(), n: N, useDefaultSubscriptions: true },
  { name: 'extra subscriptions (app, offline, legacy fields, disabled), full settings', settings: SETTINGS, subscriptions: extraSubscriptions(), n: N },
  {
    name: 'presets + app subscription, settings without pixel_id',
    settings: SETTINGS_NO_PIXEL,
    subscriptions: [...presetSubscriptions(), extraSubscriptions()[0]],
    n: Math.max(200, Math.ceil(N / 3))
  }
]

for (const pass of PASSES) {
  test(`differential: ${pass.name}`, { skip: pkgAvailable() ? false : PKG_MISSING_REASON, timeout: 10 * 60 * 1000 }, async () => {
    const { totals, groups, structural, batchDiff, file } = await runPass({
      name: pass.name,
      seed: SEED,
      events: generateEvents(pass.n, SEED),
      oracle: createOracle({ settings: pass.settings, subscriptions: pass.subscriptions }),
      destOpts: { destination: 'snap-conversions-api', settings: { ...pass.settings, access_token: ACCESS_TOKEN } },
      subscriptions: pass.subscriptions,
      useDefaultSubscriptions: pass.useDefaultSubscriptions,
      deliberate: DELIBERATE
    })
    assert.ok(totals.pairs > 0, 'no pairs compared')
    const top = [...groups.entries()].sort((a, b) => b[1].count - a[1].count).slice(0, 10).map(([s, g]) => `${g.count}x ${s}`)
    assert.equal(totals.mismatched, 0, `${totals.mismatched} mismatched (event, subscription) pairs; report: ${path.relative(process.cwd(), file)}\n${top.join('\n')}`)
    assert.equal(structural.length, 0, 'plan() line stream problems')
    assert.equal(batchDiff.length, 0, `plan(events) differs from per-event plan([e]) concatenated, first at ${batchDiff[0]?.path}`)
  })
}
