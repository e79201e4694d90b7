// Differential test: our snap-audiences and braze-cohorts vs Segment's own "Snap Audiences
// (Actions)" and "Braze Cohorts" (tests/differential/audience-oracle.mjs) on generated Engage
// membership events, with `batch_size: 1` (Segment's one event per perform): for every
// (event, subscription) both sides plan the same list of requests (method, URL and body
// compared field by field, in order), or both reject it, or neither matches it.
//
//   node --test tests/differential/audiences.test.mjs
//   DIFF_N=5000 DIFF_SEED=7 DIFF_VERBOSE=1 node --test tests/differential/audiences.test.mjs
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'

import { generateAudienceEvents, resolveSeed, AUDIENCE_KEYS } from './generate-audiences.mjs'
import {
  createAudienceOracle,
  snapAudiences,
  brazeCohorts,
  snapSubscriptions,
  brazeSubscriptions,
  ACCESS_TOKEN,
  CLIENT_SECRET,
  SNAP_SETTINGS,
  BRAZE_SETTINGS
} from './audience-oracle.mjs'
import { jsonDiff, genericPath, short } from './compare.mjs'
import { loadPkg, pkgAvailable, PKG_MISSING_REASON, REPO_ROOT } from '../support/load-pkg.mjs'

const N = Number(process.env.DIFF_N || 1500)
const SEED = resolveSeed()
const VERBOSE = !!process.env.DIFF_VERBOSE
const REPORT_DIR = path.join(REPO_ROOT, 'tests', '.tmp')
const HEX64 = /^[0-9a-fA-F]{64}$/

// Deliberate differences (docs/compatibility.md). d = { kind, path, oracle, ours }.
export const DELIBERATE = [
  {
    id: 'prehashed-uppercase-hex',
    reason: 'an already-hashed upper-case hex identifier: Segment passes it through unchanged, we lower-case it because Snap matches lower-case hex',
    applies: (d) => d.kind === 'body' && typeof d.oracle === 'string' && HEX64.test(d.oracle) && /[A-F]/.test(d.oracle) && d.ours === d.oracle.toLowerCase()
  },
  {
    id: 'segment-id-encoded',
    reason: 'an external audience id with characters that are not URL-safe: Segment pastes it into the path as is, we percent-encode it (it cannot break out of /v1/segments/{id}/users)',
    applies: (d) => d.kind === 'url' && typeof d.oracle === 'string' && decodeURIComponent(d.ours) === d.oracle
  }
]

function explain(d, ctx) {
  return DELIBERATE.find((rule) => {
    try {
      return rule.applies(d, ctx)
    } catch {
      return false
    }
  })
}

// Our plan line's requests, as a list.
function oursRequests(line) {
  if (line.request) return [line.request]
  if (line.requests) return line.requests
  return []
}

function compareLists(o, u) {
  const diffs = []
  if (o.length !== u.length) diffs.push({ kind: 'count', path: 'requests.length', oracle: o.length, ours: u.length })
  for (let i = 0; i < Math.min(o.length, u.length); i++) {
    if (o[i].method !== u[i].method) diffs.push({ kind: 'method', path: `requests[${i}].method`, oracle: o[i].method, ours: u[i].method })
    if (o[i].url !== u[i].url) diffs.push({ kind: 'url', path: `requests[${i}].url`, oracle: o[i].url, ours: u[i].url })
    for (const d of jsonDiff(o[i].body, u[i].body, `requests[${i}].body`)) diffs.push({ kind: 'body', ...d })
  }
  return diffs
}

async function runPass({ name, destination, definition, settings, oursSettings, subscriptions, useDefaultSubscriptions }) {
  const { createDestination } = await loadPkg()
  const events = generateAudienceEvents(N, SEED)
  const oracle = createAudienceOracle({ definition, settings, subscriptions })
  const opts = { destination, settings: { ...settings, ...oursSettings, batch_size: 1 } }
  if (!useDefaultSubscriptions) opts.subscriptions = subscriptions
  const dest = createDestination(opts)

  const totals = { events: events.length, pairs: 0, exact: 0, deliberate: 0, mismatched: 0, bothPlanned: 0, bothRejected: 0, bothSkipped: 0, requests: 0 }
  const groups = new Map()
  const deliberateCounts = new Map()
  const mismatches = []
  for (let i = 0; i < events.length; i++) {
    const event = events[i]
    const oLines = await oracle.planOne(event)
    const uLines = dest.plan([event])
    const oBy = new Map(oLines.map((l) => [l.subscription, l]))
    const uBy = new Map(uLines.filter((l) => l.subscription !== undefined).map((l) => [l.subscription, l]))
    if (oBy.size === 0 && uBy.size === 0) {
      totals.pairs++
      totals.exact++
      totals.bothSkipped++
      continue
    }
    for (const sub of new Set([...oBy.keys(), ...uBy.keys()])) {
      totals.pairs++
      const o = oBy.get(sub)
      const u = uBy.get(sub)
      const ok = !o ? 'absent' : o.error ? 'error' : 'requests'
      const uk = !u ? 'absent' : u.error ? 'error' : 'requests'
      let diffs
      if (ok === 'requests' && uk === 'requests') {
        totals.bothPlanned++
        totals.requests += o.requests.length
        diffs = compareLists(o.requests, oursRequests(u))
      } else if (ok === 'error' && uk === 'error') {
        totals.bothRejected++
        diffs = []
      } else {
        diffs = [{ kind: 'outcome', path: 'outcome', oracle: ok === 'error' ? `error: ${o.error.message}` : ok, ours: uk === 'error' ? `error: ${u.error.message}` : uk }]
      }
      if (diffs.length === 0) {
        totals.exact++
        continue
      }
      const unexplained = diffs.filter((d) => {
        const rule = explain(d, { event, sub })
        if (rule) deliberateCounts.set(rule.id, (deliberateCounts.get(rule.id) || 0) + 1)
        return !rule
      })
      if (unexplained.length === 0) {
        totals.deliberate++
        continue
      }
      totals.mismatched++
      const d0 = unexplained[0]
      const sig = d0.kind === 'outcome' ? `outcome: segment=${short(d0.oracle, 90)} ours=${short(d0.ours, 90)}` : `${d0.kind}: ${genericPath(d0.path)}`
      if (!groups.has(sig)) groups.set(sig, { count: 0, example: { index: i, path: d0.path, segment: d0.oracle, ours: d0.ours } })
      groups.get(sig).count++
      if (mismatches.length < 500) mismatches.push({ sig, index: i, event, oracle: o, ours: u, diffs: unexplained })
    }
  }

  const out = [`\n=== ${name} ===`, `seed=${SEED} (replay: DIFF_SEED=${SEED} DIFF_N=${N})`]
  out.push(
    `events=${totals.events} pairs=${totals.pairs} exact=${totals.exact} deliberate=${totals.deliberate} mismatched=${totals.mismatched}` +
      `  (both planned ${totals.bothPlanned} with ${totals.requests} requests, both rejected ${totals.bothRejected}, both skipped ${totals.bothSkipped})`
  )
  for (const [id, c] of deliberateCounts) out.push(`  deliberate ${id}: ${c}`)
  const sorted = [...groups.entries()].sort((a, b) => b[1].count - a[1].count)
  for (const [sig, g] of VERBOSE ? sorted : sorted.slice(0, 15)) {
    out.push(`  ${String(g.count).padStart(5)}  ${sig}`)
    out.push(`         e.g. event #${g.example.index} ${g.example.path}: segment=${short(g.example.segment, 120)} ours=${short(g.example.ours, 120)}`)
  }
  console.log(out.join('\n'))
  mkdirSync(REPORT_DIR, { recursive: true })
  const file = path.join(REPORT_DIR, `differential-audiences-${destination}.json`)
  writeFileSync(file, JSON.stringify({ pass: name, seed: SEED, n: N, totals, deliberate: Object.fromEntries(deliberateCounts), groups: Object.fromEntries([...groups].map(([k, g]) => [k, g.count])), mismatches }, null, 1))
  dest.free()
  return { totals, groups, file }
}

const PASSES = [
  {
    name: 'snap-audiences, Segment\'s "Sync Engage Audience" preset (our default subscriptions)',
    destination: 'snap-audiences',
    definition: snapAudiences,
    settings: SNAP_SETTINGS,
    oursSettings: { access_token: ACCESS_TOKEN },
    subscriptions: snapSubscriptions(),
    useDefaultSubscriptions: true
  },
  {
    name: 'braze-cohorts syncAudiences, each audience key',
    destination: 'braze-cohorts',
    definition: brazeCohorts,
    settings: BRAZE_SETTINGS,
    oursSettings: {},
    // One subscription per audience key: the key is typed into the mapping, and events of
    // the other audiences are Segment's "keys must match" rejection.
    subscriptions: AUDIENCE_KEYS.flatMap((k) => brazeSubscriptions(k).map((s) => ({ ...s, name: `${s.name} ${k}` })))
  }
]

for (const pass of PASSES) {
  test(`differential (audiences): ${pass.name}`, { skip: pkgAvailable() ? false : PKG_MISSING_REASON, timeout: 10 * 60 * 1000 }, async () => {
    const { totals, groups, file } = await runPass(pass)
    assert.ok(totals.bothPlanned > N / 10, `too few planned pairs to mean anything: ${totals.bothPlanned}`)
    assert.ok(totals.bothRejected > 0, 'rejections are compared too')
    const top = [...groups.entries()].sort((a, b) => b[1].count - a[1].count).slice(0, 10).map(([s, g]) => `${g.count}x ${s}`)
    assert.equal(totals.mismatched, 0, `${totals.mismatched} mismatched pairs; report: ${path.relative(process.cwd(), file)}\n${top.join('\n')}`)
  })
}

// Batches: Segment's performBatch vs our plan() with a batch size above the group, for groups of
// events with one external audience id (Segment's batch key) and no person twice (a repeated
// person is where we deliberately differ: the last change wins). The calls are compared as a
// set (both send them concurrently), each body field by field.
test('differential (audiences): snap-audiences batches equal Segment\'s performBatch', { skip: pkgAvailable() ? false : PKG_MISSING_REASON, timeout: 10 * 60 * 1000 }, async () => {
  const { createDestination } = await loadPkg()
  const events = generateAudienceEvents(N, SEED)
  const oracle = createAudienceOracle({ definition: snapAudiences, settings: SNAP_SETTINGS, subscriptions: snapSubscriptions() })
  const dest = createDestination({ destination: 'snap-audiences', settings: { ...SNAP_SETTINGS, access_token: ACCESS_TOKEN, batch_size: 100000 } })
  const groups = new Map() // external_audience_id -> [{ event, ids }]
  for (const event of events) {
    const [line] = await oracle.planOne(event)
    if (!line?.requests) continue
    const ids = line.requests.flatMap((r) => r.body.users[0].data.map(([h]) => `${r.body.users[0].schema[0]}:${h}`))
    const key = event.context.personas.external_audience_id
    const group = groups.get(key) ?? []
    const seen = new Set(group.flatMap((g) => g.ids))
    if (ids.some((id) => seen.has(id))) continue
    group.push({ event, ids })
    groups.set(key, group)
  }
  const BATCH = 25
  const sortKey = (r) => `${r.method} ${JSON.stringify(r.body.users[0].schema)} ${r.url}`
  const totals = { batches: 0, events: 0, requests: 0, exact: 0, deliberate: 0, mismatched: 0 }
  const problems = []
  for (const group of groups.values()) {
    for (let i = 0; i < group.length; i += BATCH) {
      const batch = group.slice(i, i + BATCH).map((g) => g.event)
      totals.batches++
      totals.events += batch.length
      const o = await oracle.planBatch(batch)
      const lines = dest.plan(batch)
      if (o.error || lines.some((l) => l.error)) {
        totals.mismatched++
        problems.push({ batch: totals.batches, oracle: o.error, ours: lines.filter((l) => l.error) })
        continue
      }
      const ours = lines.flatMap(oursRequests).sort((a, b) => sortKey(a).localeCompare(sortKey(b)))
      const theirs = o.requests.sort((a, b) => sortKey(a).localeCompare(sortKey(b)))
      totals.requests += theirs.length
      const diffs = compareLists(theirs, ours)
      const unexplained = diffs.filter((d) => !explain(d, {}))
      if (diffs.length === 0) totals.exact++
      else if (unexplained.length === 0) totals.deliberate++
      else {
        totals.mismatched++
        problems.push({ batch: totals.batches, first: unexplained[0] })
      }
    }
  }
  console.log(`\n=== snap-audiences batches of up to ${BATCH} vs performBatch ===\nseed=${SEED} (replay: DIFF_SEED=${SEED} DIFF_N=${N})\nbatches=${totals.batches} events=${totals.events} requests=${totals.requests} exact=${totals.exact} deliberate=${totals.deliberate} mismatched=${totals.mismatched}`)
  dest.free()
  assert.ok(totals.batches >= 10 && totals.requests > totals.batches, `too little compared: ${JSON.stringify(totals)}`)
  assert.equal(totals.mismatched, 0, short(problems.slice(0, 3), 2000))
})

test('the secrets never reach our plan output', { skip: pkgAvailable() ? false : PKG_MISSING_REASON }, async () => {
  const { createDestination } = await loadPkg()
  const events = generateAudienceEvents(200, SEED)
  const snap = createDestination({ destination: 'snap-audiences', settings: { ...SNAP_SETTINGS, access_token: ACCESS_TOKEN, batch_size: 1 } })
  const braze = createDestination({ destination: 'braze-cohorts', settings: { ...BRAZE_SETTINGS, partner_api_key: 'PARTNER_SECRET', batch_size: 1 }, subscriptions: brazeSubscriptions('high_ltv_customers') })
  const text = JSON.stringify([snap.plan(events), braze.plan(events)])
  for (const secret of [ACCESS_TOKEN, CLIENT_SECRET, 'PARTNER_SECRET']) assert.ok(!text.includes(secret), `${secret} printed`)
  assert.ok(text.includes('"client_secret":"REDACTED"'))
})
