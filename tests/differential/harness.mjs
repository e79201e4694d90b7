// The differential harness shared by every destination's differential test: runs Segment's
// destination (the oracle) and our package's dest.plan() on the same events and compares each
// (event, subscription) pair: planned requests field by field (method, URL, body), rejections
// by outcome (wording is only logged). Differences recognised by a destination's DELIBERATE
// rules count separately. A JSON report of each pass lands in tests/.tmp/.
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'

import { jsonDiff, genericPath, groupLines, lineKind, short } from './compare.mjs'
import { loadPkg, REPO_ROOT } from '../support/load-pkg.mjs'

const VERBOSE = !!process.env.DIFF_VERBOSE

const EVENT_TYPES = ['track', 'identify', 'page', 'screen', 'group', 'alias']
function invalidEnvelope(e) {
  if (e === null || typeof e !== 'object' || Array.isArray(e)) return false
  if (!EVENT_TYPES.includes(e.type)) return true
  return ['properties', 'traits', 'context', 'integrations'].some((k) => e[k] !== undefined && e[k] !== null && (typeof e[k] !== 'object' || Array.isArray(e[k])))
}

// Deliberate differences every destination shares.
export const CONTEXT_NULL = {
  id: 'context-null',
  reason: 'an event with `context: null`: Segment\'s action code throws reading context.personas; we treat it as no context',
  applies: (d, ctx) => ctx.event?.context === null && d.kind === 'outcome' && d.oracle === 'error'
}

export const INVALID_ENVELOPE = {
  id: 'invalid-envelope',
  reason:
    "not a Segment event (no or unknown `type`; properties/traits/context/integrations not an object): Segment's intake never forwards these, Segment's action code processes them anyway; we reject them as INVALID_EVENT naming the field",
  applies: (d, ctx) => invalidEnvelope(ctx.event) && (d.kind !== 'outcome' || d.ours === 'error' || d.ours === 'absent')
}
const REPORT_DIR = path.join(REPO_ROOT, 'tests', '.tmp')

function explain(d, ctx, deliberate) {
  for (const rule of deliberate) {
    try {
      if (rule.applies(d, ctx)) return rule
    } catch {
      /* a predicate that throws does not apply */
    }
  }
  return null
}

function compareRequests(o, u) {
  const diffs = []
  const or = o.request
  const ur = u.request
  if (String(or.method).toUpperCase() !== String(ur?.method).toUpperCase()) diffs.push({ kind: 'method', path: 'request.method', oracle: or.method, ours: ur?.method })
  if (or.url !== ur?.url) diffs.push({ kind: 'url', path: 'request.url', oracle: or.url, ours: ur?.url })
  for (const d of jsonDiff(or.body, ur?.body, '$')) diffs.push({ kind: 'body', ...d })
  return diffs
}

function headerNotes(o, u, notes) {
  const oh = o.request.headers || {}
  const uh = Object.fromEntries(Object.entries(u.request.headers || {}).map(([k, v]) => [k.toLowerCase(), String(v)]))
  for (const k of new Set([...Object.keys(oh), ...Object.keys(uh)])) {
    if (oh[k] === uh[k]) continue
    const key = `${k}: segment=${short(oh[k], 60)} ours=${short(uh[k], 60)}`
    notes.set(key, (notes.get(key) || 0) + 1)
  }
}

// `oracle`: a createOracle() for the pass; `destOpts`: our createDestination options (without
// subscriptions unless `useDefaultSubscriptions` is false, then `subscriptions` are added).
export async function runPass({ name, seed, events, oracle, destOpts, subscriptions, useDefaultSubscriptions, deliberate }) {
  const { createDestination } = await loadPkg()
  const SEED = seed
  const N = events.length

  const t0 = performance.now()
  const oracleLines = await oracle.planEach(events)
  const tOracle = performance.now() - t0

  const dest = createDestination(useDefaultSubscriptions ? destOpts : { ...destOpts, subscriptions })
  const t1 = performance.now()
  const oursLines = events.map((e) => dest.plan([e]))
  const tOurs = performance.now() - t1

  const totals = { events: events.length, pairs: 0, matched: 0, deliberate: 0, mismatched: 0, bothRejected: 0, bothPlanned: 0, bothSkipped: 0 }
  const groups = new Map() // signature -> { count, example }
  const deliberateCounts = new Map()
  const wording = new Map()
  const headerDiffs = new Map()
  const structural = [] // problems with the line stream itself
  const mismatches = []

  const addMismatch = (sig, example) => {
    totals.mismatched++
    if (!groups.has(sig)) groups.set(sig, { count: 0, example })
    groups.get(sig).count++
    if (mismatches.length < 2000) mismatches.push({ sig, ...example })
  }

  for (let i = 0; i < events.length; i++) {
    const event = events[i]
    const og = groupLines(oracleLines[i])
    const ours = oursLines[i]
    if (!Array.isArray(ours) || ours.length === 0) {
      structural.push({ index: i, problem: 'plan([event]) returned no line', ours })
      addMismatch('structure: plan() returned no line for an event', { index: i, event, oracle: oracleLines[i], ours })
      continue
    }
    const ug = groupLines(ours)
    if (ug.dupes.length) structural.push({ index: i, problem: `duplicate lines for subscription(s) ${ug.dupes.join(', ')}` })

    // skipped on both sides
    if (og.bySub.size === 0 && ug.bySub.size === 0) {
      totals.pairs++
      totals.matched++
      totals.bothSkipped++
      continue
    }
    // Pair up lines. An event-level line (no subscription, e.g. "not an object") on one side
    // stands for every subscription line of the other side.
    const pairs = []
    const oEv = og.bySub.get('__event__')
    const uEv = ug.bySub.get('__event__')
    if (oEv && uEv) pairs.push(['__event__', oEv, uEv])
    else if (uEv) {
      if (og.bySub.size === 0) pairs.push(['__event__', undefined, uEv])
      for (const [k, o] of og.bySub) pairs.push([k, o, uEv])
      for (const [k, u] of ug.bySub) if (k !== '__event__') pairs.push([k, og.bySub.get(k), u])
    } else if (oEv) {
      if (ug.bySub.size === 0) pairs.push(['__event__', oEv, undefined])
      for (const [k, u] of ug.bySub) pairs.push([k, oEv, u])
    } else {
      for (const k of new Set([...og.bySub.keys(), ...ug.bySub.keys()])) pairs.push([k, og.bySub.get(k), ug.bySub.get(k)])
    }
    for (const [sub, o, u] of pairs) {
      totals.pairs++
      const ok = o ? lineKind(o) : og.bySub.size === 0 ? 'skipped' : 'absent'
      const uk = u ? lineKind(u) : ug.bySub.size === 0 ? 'skipped' : 'absent'
      const ctx = { event, sub, oracleLine: o, oursLine: u, pass: name }
      let diffs
      if (ok === 'request' && uk === 'request') {
        totals.bothPlanned++
        diffs = compareRequests(o, u)
        headerNotes(o, u, headerDiffs)
        if (typeof event?.messageId === 'string' && event.messageId !== '' && u.messageId !== event.messageId) {
          diffs.push({ kind: 'line', path: 'line.messageId', oracle: event.messageId, ours: u.messageId })
        }
      } else if (ok === 'error' && uk === 'error') {
        totals.bothRejected++
        const om = o.error.message
        const um = u.error?.message
        if (om !== um) {
          const k = `${o.error.class ?? ''}: ${om}\n      ours [${u.error?.code ?? ''}${u.error?.field ? ' field=' + u.error.field : ''}]: ${um}`
          wording.set(k, (wording.get(k) || 0) + 1)
        }
        diffs = []
      } else {
        diffs = [{ kind: 'outcome', path: 'outcome', oracle: ok, ours: uk }]
      }

      if (diffs.length === 0) {
        totals.matched++
        continue
      }
      const unexplained = []
      const rules = new Set()
      for (const d of diffs) {
        const rule = explain(d, ctx, deliberate)
        if (rule) rules.add(rule.id)
        else unexplained.push(d)
      }
      if (unexplained.length === 0) {
        totals.deliberate++
        for (const r of rules) deliberateCounts.set(r, (deliberateCounts.get(r) || 0) + 1)
        continue
      }
      const d0 = unexplained[0]
      let sig
      if (d0.kind === 'outcome') {
        const detail = [
          d0.oracle === 'error' ? `segment: ${o.error.message.slice(0, 90)}` : '',
          d0.ours === 'error' ? `ours: ${String(u.error?.message).slice(0, 90)}${u.subscription ? '' : ' (event-level)'}` : ''
        ].filter(Boolean).join(' | ')
        sig = `outcome: segment=${d0.oracle} ours=${d0.ours}${sub === '__event__' ? ' (event-level)' : ''} ${detail}`
      } else {
        sig = `${d0.kind}: ${genericPath(d0.path)}${d0.kind === 'body' ? ` (${typeof d0.oracle} vs ${typeof d0.ours})` : ''}`
      }
      addMismatch(sig, {
        index: i,
        subscription: sub,
        messageId: event?.messageId,
        firstPath: d0.path,
        segment: d0.oracle,
        ours: d0.ours,
        allPaths: unexplained.map((d) => d.path),
        event,
        oracleLine: o,
        oursLine: u
      })
    }
  }

  // Batch consistency: plan(all) must be the per-event plans concatenated, in input order.
  const batch = dest.plan(events)
  const concatenated = oursLines.flat()
  const batchDiff = jsonDiff(concatenated, batch, '$')

  // -------- report
  const rate = totals.pairs ? ((100 * (totals.matched + totals.deliberate)) / totals.pairs).toFixed(2) : '100.00'
  const out = []
  out.push(`\n=== ${name} ===`)
  out.push(`seed=${SEED} (replay: DIFF_SEED=${SEED} DIFF_N=${N})  oracle ${tOracle.toFixed(0)} ms, ours ${tOurs.toFixed(0)} ms`)
  out.push(
    `events=${totals.events} pairs=${totals.pairs} matched=${totals.matched} deliberate=${totals.deliberate} mismatched=${totals.mismatched} match-rate=${rate}%` +
      `  (both planned ${totals.bothPlanned}, both rejected ${totals.bothRejected}, both skipped ${totals.bothSkipped})`
  )
  for (const [id, c] of deliberateCounts) out.push(`  deliberate ${id}: ${c}`)
  if (groups.size) {
    out.push(`  mismatch groups (${groups.size}):`)
    const sorted = [...groups.entries()].sort((a, b) => b[1].count - a[1].count)
    for (const [sig, g] of VERBOSE ? sorted : sorted.slice(0, 25)) {
      const ex = g.example
      out.push(`  ${String(g.count).padStart(5)}  ${sig}`)
      if (ex.firstPath) out.push(`         e.g. event #${ex.index} msg=${short(ex.messageId, 50)} sub=${ex.subscription} ${ex.firstPath}: segment=${short(ex.segment, 120)} ours=${short(ex.ours, 120)}`)
      else out.push(`         e.g. event #${ex.index}`)
    }
    if (!VERBOSE && sorted.length > 25) out.push(`  … ${sorted.length - 25} more groups (DIFF_VERBOSE=1)`)
  }
  if (wording.size) {
    out.push(`  rejected by both, different wording (${wording.size} distinct pairs; not a failure):`)
    const sorted = [...wording.entries()].sort((a, b) => b[1] - a[1])
    for (const [k, c] of VERBOSE ? sorted : sorted.slice(0, 12)) out.push(`  ${String(c).padStart(5)}  segment ${k}`)
    if (!VERBOSE && sorted.length > 12) out.push(`  … ${sorted.length - 12} more (DIFF_VERBOSE=1)`)
  }
  if (headerDiffs.size) {
    out.push('  request header differences (informational, not compared):')
    for (const [k, c] of headerDiffs) out.push(`  ${String(c).padStart(5)}  ${k}`)
  }
  if (structural.length) out.push(`  line-stream problems: ${structural.length}, first: ${short(structural[0], 200)}`)
  if (batchDiff.length) out.push(`  plan(all events) differs from per-event plans at ${batchDiff.length} paths, first ${batchDiff[0].path}: ${short(batchDiff[0].oracle)} vs ${short(batchDiff[0].ours)}`)
  console.log(out.join('\n'))

  mkdirSync(REPORT_DIR, { recursive: true })
  const file = path.join(REPORT_DIR, `differential-${name.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase()}.json`)
  writeFileSync(
    file,
    JSON.stringify(
      {
        pass: name,
        seed: SEED,
        n: N,
        totals,
        deliberate: Object.fromEntries(deliberateCounts),
        groups: Object.fromEntries([...groups].map(([k, g]) => [k, g.count])),
        wording: Object.fromEntries(wording),
        headerDiffs: Object.fromEntries(headerDiffs),
        structural: structural.slice(0, 100),
        batchDiff: batchDiff.slice(0, 20),
        mismatches
      },
      null,
      1
    )
  )

  return { totals, groups, structural, batchDiff, file }
}

