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
export function invalidEnvelope(e) {
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

export function explain(d, ctx, deliberate) {
  for (const rule of deliberate) {
    try {
      if (rule.applies(d, ctx)) return rule
    } catch {
      /* a predicate that throws does not apply */
    }
  }
  return null
}

// The differences no deliberate rule explains; when there are none, the rules that explained
// them are counted in `counts`. `ctx` may be a function of the difference.
export function unexplainedDiffs(diffs, ctx, deliberate, counts) {
  const rest = []
  const rules = new Set()
  for (const d of diffs) {
    const rule = explain(d, typeof ctx === 'function' ? ctx(d) : ctx, deliberate)
    if (rule) rules.add(rule.id)
    else rest.push(d)
  }
  if (rest.length === 0) for (const r of rules) counts.set(r, (counts.get(r) || 0) + 1)
  return rest
}

// A mismatch group's name for a difference that is not an outcome.
export function diffSignature(d) {
  return `${d.kind}: ${genericPath(d.path)}${d.kind === 'body' ? ` (${typeof d.oracle} vs ${typeof d.ours})` : ''}`
}

function lowerHeaders(h) {
  return Object.fromEntries(Object.entries(h || {}).map(([k, v]) => [k.toLowerCase(), String(v)]))
}

// Two planned requests: method, URL and body field by field; with `headers`, every header
// but the `ignore`d ones too (names lower-case), as { kind: 'header', path: 'headers.<name>' }.
export function requestDiffs(or, ur, { headers = false, ignore = [] } = {}) {
  const diffs = []
  if (String(or.method).toUpperCase() !== String(ur?.method).toUpperCase()) diffs.push({ kind: 'method', path: 'request.method', oracle: or.method, ours: ur?.method })
  if (or.url !== ur?.url) diffs.push({ kind: 'url', path: 'request.url', oracle: or.url, ours: ur?.url })
  if (headers) {
    const oh = lowerHeaders(or.headers)
    const uh = lowerHeaders(ur?.headers)
    for (const k of new Set([...Object.keys(oh), ...Object.keys(uh)])) {
      if (oh[k] !== uh[k] && !ignore.includes(k)) diffs.push({ kind: 'header', path: `headers.${k}`, oracle: oh[k], ours: uh[k] })
    }
  }
  for (const d of jsonDiff(or.body, ur?.body, '$')) diffs.push({ kind: 'body', ...d })
  return diffs
}

function headerNotes(o, u, notes) {
  for (const d of requestDiffs(o.request, u.request, { headers: true })) {
    if (d.kind !== 'header') continue
    const key = `${d.path.slice('headers.'.length)}: segment=${short(d.oracle, 60)} ours=${short(d.ours, 60)}`
    notes.set(key, (notes.get(key) || 0) + 1)
  }
}

// The report lines of every pass: deliberate counts, then mismatch groups with an example.
function reportGroups(groups, deliberateCounts) {
  const out = []
  for (const [id, c] of deliberateCounts) out.push(`  deliberate ${id}: ${c}`)
  if (groups.size) {
    out.push(`  mismatch groups (${groups.size}):`)
    const sorted = [...groups.entries()].sort((a, b) => b[1].count - a[1].count)
    for (const [sig, g] of VERBOSE ? sorted : sorted.slice(0, 25)) {
      const ex = g.example
      const where = ex.where ?? `event #${ex.index}${ex.firstPath ? ` msg=${short(ex.messageId, 50)} sub=${ex.subscription}` : ''}`
      out.push(`  ${String(g.count).padStart(5)}  ${sig}`)
      out.push(`         e.g. ${where}${ex.firstPath ? ` ${ex.firstPath}: segment=${short(ex.segment, 120)} ours=${short(ex.ours, 120)}` : ''}`)
    }
    if (!VERBOSE && sorted.length > 25) out.push(`  … ${sorted.length - 25} more groups (DIFF_VERBOSE=1)`)
  }
  return out
}

// The JSON report of a pass, in tests/.tmp/.
function writeReport(name, report) {
  mkdirSync(REPORT_DIR, { recursive: true })
  const file = path.join(REPORT_DIR, `differential-${name.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase()}.json`)
  writeFileSync(file, JSON.stringify(report, null, 1))
  return file
}

// `oracle`: a createOracle() for the pass; `destOpts`: our createDestination options (without
// subscriptions unless `useDefaultSubscriptions` is false, then `subscriptions` are added).
export async function runPass({ name, seed, events, oracle, destOpts, subscriptions, useDefaultSubscriptions, deliberate, batchOf = (lines) => lines }) {
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
        diffs = requestDiffs(o.request, u.request)
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
      const unexplained = unexplainedDiffs(diffs, ctx, deliberate, deliberateCounts)
      if (unexplained.length === 0) {
        totals.deliberate++
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
        sig = diffSignature(d0)
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

  // Batch consistency: plan(all) must be the per-event plans concatenated, in input order
  // (`batchOf`: what a destination's documented rules across events make of that list).
  const batch = dest.plan(events)
  const concatenated = batchOf(oursLines.flat())
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
  out.push(...reportGroups(groups, deliberateCounts))
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

  const file = writeReport(name, {
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
  })

  return { totals, groups, structural, batchDiff, file }
}


// Segment's batch path (performBatch) against our batching.
//
// `batches`: [{ subscription, events }], each a batch as Segment forms it for one subscription
// (events with unique messageIds: our lines name the request an event rides in by it);
// `dest(subscription)`: our destination with only that subscription and a batch size that
// keeps such a batch in one request.
//
// Segment's side: the oracle's planBatch; events it answers with a retryable 429 (a batch over
// the destination's object limit) go again as the next batch, as Segment's pipeline retries
// them. Our side: plan(events) once. Compared: every event's outcome (in a request, or
// rejected: wording is not compared), then the requests pairwise in order: method, URL, every
// header (but `ignoreHeaders`) and the body field by field (so the order of the items in the batched arrays too). A
// request one side makes and the other does not is a difference of kind 'request'. For the
// deliberate rules, a body difference under `$.<array>[i]` carries the event that owns item i
// (counted from our plan of each event alone) as ctx.event.
//
// `counterfactuals`: [{ id, reason, options }] for differences with one cause in Segment that
// shows up all over a batch (shifted items, other outcomes): a batch whose comparison fails is
// run again through planBatch(events, subscription, options); when ours then matches better,
// what it explains counts as deliberate under `id` and only what it leaves is a mismatch.
export async function runBatchPass({ name, seed, batches, oracle, dest, deliberate, counterfactuals = [], ignoreHeaders = [], maxRounds = 10 }) {
  const totals = { batches: 0, events: 0, retried: 0, bothSent: 0, bothRejected: 0, requests: 0, exact: 0, deliberate: 0, mismatched: 0 }
  const groups = new Map()
  const deliberateCounts = new Map()
  const mismatches = []
  const t0 = performance.now()

  for (const [b, { subscription, events }] of batches.entries()) {
    totals.batches++
    totals.events += events.length
    const where = `batch #${b} (${subscription}, ${events.length} events)`
    const d = dest(subscription)
    const ours = planOurs(d, events)
    const theirs = await segmentBatch(oracle, events, subscription, {}, maxRounds)
    totals.retried += theirs.retried
    const how = { events, subscription, where, deliberate, ignoreHeaders, pass: name }
    let result = compareBatch(theirs, ours, how)
    // The counterfactual that explains the most; what it leaves is reported.
    for (const cf of counterfactuals) {
      if (result.failed.length === 0) break
      const alt = compareBatch(await segmentBatch(oracle, events, subscription, cf.options, maxRounds), ours, how)
      if (alt.failed.length < result.failed.length) {
        result = { ...alt, deliberate: alt.deliberate + result.failed.length - alt.failed.length, rules: new Map([...alt.rules, [cf.id, (alt.rules.get(cf.id) || 0) + 1]]) }
      }
    }
    totals.exact += result.exact
    totals.deliberate += result.deliberate
    totals.requests += result.requests
    totals.bothSent += result.bothSent
    totals.bothRejected += result.bothRejected
    for (const [id, c] of result.rules) deliberateCounts.set(id, (deliberateCounts.get(id) || 0) + c)
    for (const f of result.failed) {
      totals.mismatched++
      if (!groups.has(f.sig)) groups.set(f.sig, { count: 0, example: { where: f.where, firstPath: f.diffs[0].path, segment: f.diffs[0].oracle, ours: f.diffs[0].ours } })
      groups.get(f.sig).count++
      if (mismatches.length < 500) mismatches.push({ ...f, diffs: f.diffs.slice(0, 20) })
    }
  }

  const ms = performance.now() - t0
  const out = [`\n=== ${name} ===`, `seed=${seed} (replay: DIFF_SEED=${seed})  ${ms.toFixed(0)} ms`]
  out.push(
    `batches=${totals.batches} events=${totals.events} (retried by Segment ${totals.retried}; both sent ${totals.bothSent}, both rejected ${totals.bothRejected}) requests compared=${totals.requests}` +
      `  comparisons: exact=${totals.exact} deliberate=${totals.deliberate} mismatched=${totals.mismatched}`
  )
  out.push(...reportGroups(groups, deliberateCounts))
  console.log(out.join('\n'))
  const file = writeReport(name, { pass: name, seed, totals, deliberate: Object.fromEntries(deliberateCounts), groups: Object.fromEntries([...groups].map(([k, g]) => [k, g.count])), mismatches })
  return { totals, groups, file }
}

// Segment's outcome of each event of a batch (retried events included) and its requests.
async function segmentBatch(oracle, events, subscription, options, maxRounds) {
  const outcomes = new Array(events.length)
  const requests = []
  let retried = 0
  let pending = events.map((_, i) => i)
  for (let round = 0; pending.length && round < maxRounds; round++) {
    const r = await oracle.planBatch(pending.map((i) => events[i]), subscription, options)
    requests.push(...r.requests)
    const retry = []
    pending.forEach((i, k) => {
      const res = r.error ? { errormessage: r.error.message, errortype: r.error.class } : r.results[k]
      if (res?.status >= 200 && res.status < 300) outcomes[i] = { kind: 'request' }
      else if (res?.status === 429) retry.push(i)
      else outcomes[i] = { kind: 'error', error: { message: res?.errormessage, class: res?.errortype, status: res?.status } }
    })
    pending = retry
    retried += retry.length
  }
  for (const i of pending) outcomes[i] = { kind: 'error', error: { message: `still retried after ${maxRounds} batches` } }
  return { outcomes, requests, retried }
}

// Our plan of a batch: each event's line, its request's index, and which event owns each item
// of each request (from our plan of that event alone).
function planOurs(d, events) {
  const lines = d.plan(events)
  const lineOf = new Map()
  for (const l of lines) if (!lineOf.has(l.messageId)) lineOf.set(l.messageId, l)
  const requests = []
  const reqOf = new Map()
  for (const l of lines) if (l.request) reqOf.set(l.messageId, requests.push(l.request) - 1)
  for (const l of lines) if (l.batchedWith !== undefined) reqOf.set(l.messageId, reqOf.get(l.batchedWith))
  const owners = requests.map(() => ({}))
  events.forEach((event, i) => {
    const k = reqOf.get(event.messageId)
    if (k === undefined) return
    const body = d.plan([event]).find((l) => l.request)?.request.body ?? {}
    for (const [key, v] of Object.entries(body)) if (Array.isArray(v)) (owners[k][key] ??= []).push(...v.map(() => i))
  })
  return { lineOf, requests, reqOf, owners }
}

// One batch compared: counts of exact / deliberate comparisons (by rule) and the failed ones.
function compareBatch(theirs, ours, { events, subscription, where, deliberate, ignoreHeaders, pass }) {
  const r = { exact: 0, deliberate: 0, requests: 0, bothSent: 0, bothRejected: 0, rules: new Map(), failed: [] }
  const judge = (diffs, ctx, at, detail) => {
    if (diffs.length === 0) return r.exact++
    const unexplained = unexplainedDiffs(diffs, ctx, deliberate, r.rules)
    if (unexplained.length === 0) return r.deliberate++
    const d0 = unexplained[0]
    const sig = d0.kind === 'outcome' ? `outcome: segment=${d0.oracle} ours=${d0.ours} ${detail ?? ''}`.trim() : diffSignature(d0)
    r.failed.push({ sig, where: at, diffs: unexplained })
  }

  events.forEach((event, i) => {
    const u = ours.lineOf.get(event.messageId)
    const o = theirs.outcomes[i]
    const uk = ours.reqOf.has(event.messageId) ? 'request' : u?.error ? 'error' : u?.skipped ? 'skipped' : 'absent'
    if (o.kind === uk && uk === 'request') r.bothSent++
    if (o.kind === uk && uk === 'error') r.bothRejected++
    const diffs = o.kind === uk ? [] : [{ kind: 'outcome', path: 'outcome', oracle: o.kind, ours: uk }]
    const detail = [o.kind === 'error' ? `segment: ${short(o.error.message, 90)}` : '', uk === 'error' ? `ours: ${short(u.error.message, 90)}` : ''].filter(Boolean).join(' | ')
    judge(diffs, { event, events, sub: subscription, oracleLine: o, oursLine: u, pass }, `${where} event ${i} msg=${event.messageId}`, detail)
  })

  // Requests only one side makes (a deliberate rule may explain them), then the rest in pairs.
  const batchCtx = { events, sub: subscription, pass }
  const alone = (reqs, side) =>
    reqs.filter((q, k) => {
      const d0 = { kind: 'request', path: `requests[${k}]`, oracle: side === 'oracle' ? q : undefined, ours: side === 'ours' ? q : undefined }
      if (!explain(d0, batchCtx, deliberate)) return true
      judge([d0], batchCtx, `${where} request ${k}`)
      return false
    })
  const oPaired = alone(theirs.requests, 'oracle')
  const uPaired = alone(ours.requests, 'ours')
  for (let k = 0; k < Math.max(oPaired.length, uPaired.length); k++) {
    const o = oPaired[k]
    const u = uPaired[k]
    const at = `${where} request ${k}`
    if (!o || !u) {
      judge([{ kind: 'request', path: `requests[${k}]`, oracle: o, ours: u }], batchCtx, at)
      continue
    }
    r.requests++
    const own = ours.owners[ours.requests.indexOf(u)] ?? {}
    const ctxOf = (df) => {
      const m = /^\$\.([A-Za-z_]\w*)\[(\d+)\]/.exec(df.path)
      const owner = m ? own[m[1]]?.[Number(m[2])] : undefined
      return { ...batchCtx, event: owner === undefined ? undefined : events[owner], request: { oracle: o, ours: u } }
    }
    judge(requestDiffs(o, u, { headers: true, ignore: ignoreHeaders }), ctxOf, at)
  }
  return r
}
