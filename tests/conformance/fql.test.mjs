// FQL conformance: our Rust FQL against Segment's @segment/destination-subscriptions.
//
//   node --test tests/conformance/fql.test.mjs
//   FC_SEED=123 FC_RUNS=500 node --test tests/conformance/fql.test.mjs   # replay / go longer
//   CONFORMANCE_ORACLE=cargo ...   # native Rust through `cargo run --example fql_oracle`
//   CONFORMANCE_ORACLE=cargo FQL_ORACLE=/path/to/fql_oracle ...   # prebuilt oracle binary
//
// Ours is reached through `compareWithReference(cases, ours)` where `ours` is an async
// batch function `(cases) => Promise<Array<{matches: boolean} | {error: {...}}>>`. By default
// that is the shipped wasm package, pkg/node.js `matchesTrigger(fql, event)` (run `make build`
// first), with each event passed exactly as generated; with CONFORMANCE_ORACLE=cargo it is the
// cargo example `fql_oracle` (NDJSON over stdin/stdout).
// Lone UTF-16 surrogates are not generated: a Rust &str cannot carry them.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { ORACLE, callPackage, loadPackage, percent } from './oracle.mjs'

const require = createRequire(import.meta.url)
const { parseFql, validate } = require('@segment/destination-subscriptions')
const repoRoot = fileURLToPath(new URL('../..', import.meta.url))

const seed = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : (Date.now() ^ (Math.random() * 0x7fffffff)) | 0
const runs = Number(process.env.FC_RUNS ?? 100)
const BATCH = 50
console.log(`FQL conformance: oracle ${ORACLE}, seed ${seed}, ${runs} runs x ${BATCH} cases (replay with FC_SEED=${seed})`)

/** Segment's answer. A TypeError thrown by validate() means the event is not delivered. */
export function reference(fql, event) {
  const ir = parseFql(fql)
  if (ir.error) return { error: String(ir.error.message) }
  try {
    return { matches: validate(ir, event) === true }
  } catch (e) {
    return { matches: false, threw: String(e.message) }
  }
}

/** Runs `ours` on a batch and returns the cases where it disagrees with Segment. */
export async function compareWithReference(cases, ours) {
  const got = await ours(cases)
  const mismatches = []
  const wants = cases.map((c, i) => {
    const want = reference(c.fql, c.event)
    const g = got[i] ?? { error: { message: 'no answer' } }
    const agree = want.error !== undefined ? g.error !== undefined : g.error === undefined && g.matches === want.matches
    if (!agree) mismatches.push({ fql: c.fql, event: c.event, want, got: g })
    return want
  })
  return { got, wants, mismatches }
}

// ---------------------------------------------------------------- wasm package
/** `matchesTrigger` from pkg/node.js: `{matches}`, or `{error: {code, field, message}}` on EdgeActionsError. */
async function wasmOurs(cases) {
  const { matchesTrigger, EdgeActionsError } = await loadPackage()
  return cases.map((c) => callPackage(EdgeActionsError, () => ({ matches: matchesTrigger(c.fql, c.event) }), c))
}

// ---------------------------------------------------------------- cargo oracle process
function startOracle() {
  const cmd = process.env.FQL_ORACLE
    ? [process.env.FQL_ORACLE, []]
    : ['cargo', ['run', '--release', '--quiet', '--example', 'fql_oracle']]
  const child = spawn(cmd[0], cmd[1], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'inherit'] })
  const waiting = []
  let failure
  const fail = (err) => {
    failure = err
    for (const w of waiting.splice(0)) w.reject(err)
  }
  createInterface({ input: child.stdout }).on('line', (line) => {
    const w = waiting.shift()
    if (w) w.resolve(JSON.parse(line))
  })
  child.on('error', fail)
  child.on('exit', (code) => fail(new Error(`fql_oracle exited (${code})`)))
  child.stdin.on('error', fail)
  const ours = async (cases) => {
    if (failure) throw failure
    const answers = cases.map(() => new Promise((resolve, reject) => waiting.push({ resolve, reject })))
    // JSON drops `event: undefined`; the oracle reads a missing event as undefined.
    child.stdin.write(cases.map((c) => JSON.stringify({ fql: c.fql, event: c.event }) + '\n').join(''))
    return Promise.all(answers)
  }
  const stop = () => {
    child.removeAllListeners('exit')
    child.stdin.end()
  }
  return { ours, stop }
}

let oracle
const ours =
  ORACLE === 'cargo'
    ? (cases) => {
        oracle ??= startOracle()
        return oracle.ours(cases)
      }
    : wasmOurs
after(() => oracle?.stop())

// Every case compared outside fast-check's shrinking, for the summary line.
const totals = { cases: 0, matched: 0, parts: {} }
/** compareWithReference plus bookkeeping under `label`. */
async function compareCounted(label, cases) {
  const r = await compareWithReference(cases, ours)
  totals.cases += cases.length
  totals.matched += cases.length - r.mismatches.length
  totals.parts[label] = (totals.parts[label] ?? 0) + cases.length
  return r
}
after(() => {
  const parts = Object.entries(totals.parts).map(([k, n]) => `${k} ${n}`).join(', ')
  console.log(
    `FQL conformance summary [${ORACLE}]: ${totals.cases} cases, ${totals.matched} matched ` +
      `(${percent(totals.matched, totals.cases)}), ${totals.cases - totals.matched} mismatches (${parts}); ` +
      `FC_SEED=${seed} FC_RUNS=${runs}`
  )
})

// ---------------------------------------------------------------- generators
const STRINGS = [
  'track', 'identify', 'page', 'Order Completed', 'Order', 'Completed', 'abc', 'ab', 'bc', 'a', '',
  ' ', 'x y', 'true', 'false', 'null', '5', '12', ' 12 ', '1.5', '0x10', '1e3', 'Infinity', 'NaN',
  '-0', 'undefined', 'eos', 'é', '日本', '😀', 'a😀', 'a*', '*', '**', '*a', 'it\'s', '[object Object]',
]
const NUMBERS = [0, 1, 2, 3, 5, 10, 12, 1.5, -3, 100, 0.1, 1e21, 2.5, 7]
const NUMBER_SOURCES = ['0', '1', '5', '12', '1.5', '-3', '+5', '007', '1.50', '-0', '100', '2.5', '0.1',
  '100000000000000000000000', '-', '+', '7']
const KEYS = ['a', 'b', 'c', 'total', 'price', 'email', 'name', 'items', 'length', 'x-y', 'a_b', 'my key',
  'x.y', '0', '1', 'é', 'constructor', 'toString', '__proto__', 'type', 'properties']
const FIELDS_TOP = ['type', 'event', 'name', 'userId']
const PREFIXES = ['properties', 'traits', 'context']
const INFIX = ['contains', 'not_contains', 'starts_with', 'not_starts_with', 'ends_with', 'not_ends_with',
  'exists', 'not_exists', 'is_true', 'is_false', 'number_equals', 'number_not_equals']

const splitPath = (name) => name.split(/[.[\]]/).filter(Boolean)
/** How generateFql() writes a path segment, or a raw variant that lexes differently. */
const escapeKey = (k, raw) => (raw ? k : k.replace(/[^a-zA-Z0-9._-]/g, '\\$&').replace(/^([0-9-])/, '\\$1'))

const ws = fc.constantFrom(' ', ' ', ' ', ' ', ' ', '', '  ', '\t', '\n')
const str = fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...STRINGS) }, { weight: 1, arbitrary: fc.string({ maxLength: 4 }) })

// A field as written in FQL, plus where it lives in an event.
const field = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(...FIELDS_TOP).map((f) => ({ src: f, path: [f] })) },
  {
    weight: 5,
    arbitrary: fc
      .tuple(fc.constantFrom(...PREFIXES), fc.array(fc.constantFrom(...KEYS), { minLength: 1, maxLength: 3 }), fc.boolean(),
        fc.nat(30))
      .map(([p, keys, raw, odd]) => {
        if (odd === 0) return { src: p, path: [p, p] } // bare `properties`: the reference looks up properties.properties
        if (odd === 1) return { src: `${p}X`, path: [p, `${p}X`] }
        const name = keys.join('.')
        const src = `${p}.${keys.map((k) => escapeKey(k, raw && odd < 8)).join('.')}`
        return { src, path: [p, ...splitPath(name)] }
      }),
  },
)

// A literal as written in FQL, plus the JS values that tend to satisfy comparisons with it.
const literal = fc.oneof(
  { weight: 5, arbitrary: str.map((s) => ({ src: `"${s}"`, s, near: [s, `x${s}y`, `${s}z`, `z${s}`, Number(s)] })) },
  { weight: 1, arbitrary: str.map((s) => ({ src: `'${s}'`, s: `'${s}'`, near: [`'${s}'`, s] })) },
  {
    weight: 4,
    arbitrary: fc.constantFrom(...NUMBER_SOURCES).map((n) => ({
      src: n, s: String(Number(n)), near: [Number(n), Number(n) + 1, Number(n) - 1, String(Number(n)), n],
    })),
  },
  { weight: 2, arbitrary: fc.constantFrom('true', 'false').map((b) => ({ src: b, s: b, near: [b === 'true', b] })) },
  { weight: 2, arbitrary: fc.constant({ src: 'null', s: 'null', near: [null, undefined, 'null', 0] }) },
  { weight: 1, arbitrary: fc.constantFrom('foo', 'track', 'abc').map((i) => ({ src: i, s: i, near: [i] })) },
)

const glob = fc.tuple(str, fc.constantFrom('prefix', 'suffix', 'bare', 'star', 'empty', 'number')).map(([s, kind]) => {
  switch (kind) {
    case 'prefix': return { src: `"${s}*"`, near: [`${s}`, `${s}tail`, `x${s}`] }
    case 'suffix': return { src: `"*${s}"`, near: [`${s}`, `head${s}`, `${s}x`] }
    case 'bare': return { src: `"${s}"`, near: [s, s.slice(1), `x${s}`] }
    case 'star': return { src: '"*"', near: ['', 'x'] }
    case 'empty': return { src: '""', near: ['', 'x'] }
    default: return { src: '5', near: ['5', 5] }
  }
})

const OPERATORS = ['=', '=', '=', '!=', '!=', '<', '<=', '>', '>=']
const comparison = fc
  .tuple(field, ws, fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...OPERATORS) }, { weight: 1, arbitrary: fc.constantFrom(...INFIX) }),
    fc.constantFrom(' ', ' ', ' ', ''), literal, fc.nat(20))
  .map(([f, w1, op, w2, lit, neg]) => {
    // Word operators need a separating space to lex at all.
    const sep1 = /^[a-z]/.test(op) ? ' ' : w1
    const sep2 = /^[a-z]/.test(op) || w2 === '' && /^[a-z]/.test(lit.src) ? ' ' : w2
    return { src: `${neg === 0 ? '!' : ''}${f.src}${sep1}${op}${sep2}${lit.src}`, leaves: [{ path: f.path, near: lit.near }] }
  })

const fn = fc
  .tuple(fc.constantFrom('contains', 'match'), fc.boolean(), field, fc.constantFrom(', ', ',', ' , '), str, glob, fc.nat(10))
  .map(([name, negate, f, comma, s, g, odd]) => {
    const arg = name === 'contains' ? (odd === 0 ? '5' : `"${s}"`) : g.src
    const near = name === 'contains' ? [s, `x${s}y`, 'abc', ''] : g.near
    return { src: `${negate ? '!' : ''}${name}(${f.src}${comma}${arg})`, leaves: [{ path: f.path, near }] }
  })

const leaf = fc.oneof({ weight: 3, arbitrary: comparison }, { weight: 1, arbitrary: fn })

const expr = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 4, arbitrary: leaf },
    { weight: 3, arbitrary: tie('chain') },
    { weight: 1, arbitrary: tie('group') },
  ),
  chain: fc
    .tuple(tie('node'), fc.array(fc.tuple(fc.constantFrom('and', 'or'), tie('node')), { minLength: 1, maxLength: 3 }))
    .map(([first, rest]) => ({
      src: [first.src, ...rest.map(([c, n]) => `${c} ${n.src}`)].join(' '),
      leaves: [first, ...rest.map(([, n]) => n)].flatMap((n) => n.leaves),
    })),
  group: fc.tuple(tie('node'), fc.constantFrom('', '', '', '!'), fc.constantFrom('', ' ')).map(([n, bang, pad]) => ({
    src: `${bang}(${pad}${n.src}${pad})`,
    leaves: n.leaves,
  })),
})).node

const jsonValue = fc.oneof(
  fc.constantFrom(...STRINGS),
  fc.constantFrom(...NUMBERS),
  fc.constantFrom(true, false, null, [], [1, 2, 3], ['a', 'b'], {}, { a: 1 }, 'abc', 0, ''),
).map((v) => structuredClone(v)) // events are edited in place: never share the constants

// Own data properties only: keys such as `__proto__` must not reach Object.prototype.
const define = (o, k, value) => Object.defineProperty(o, k, { value, writable: true, enumerable: true, configurable: true })
const setPath = (root, path, value) => {
  let o = root
  for (const k of path.slice(0, -1)) {
    if (!Object.hasOwn(o, k) || o[k] === null || typeof o[k] !== 'object' || Array.isArray(o[k])) define(o, k, {})
    o = o[k]
  }
  const last = path[path.length - 1]
  if (value === undefined) delete o[last]
  else define(o, last, value)
}

// An event aimed at the expression's leaves (so both outcomes are common), with noise.
const caseFor = (e) =>
  fc
    .tuple(
      fc.array(fc.tuple(fc.nat(9), fc.nat(99), jsonValue), { minLength: e.leaves.length, maxLength: e.leaves.length }),
      fc.dictionary(fc.constantFrom(...KEYS), jsonValue, { maxKeys: 3 }),
      fc.nat(60),
    )
    .map(([choices, noise, shape]) => {
      if (shape === 0) return { fql: e.src, event: undefined }
      if (shape === 1) return { fql: e.src, event: null }
      if (shape === 2) return { fql: e.src, event: 'track' }
      const event = { type: 'track', properties: { ...noise } }
      e.leaves.forEach((l, i) => {
        const [aim, pick, other] = choices[i]
        if (aim < 8) setPath(event, l.path, l.near[pick % l.near.length])
        else if (aim === 8) setPath(event, l.path, other)
      })
      return { fql: e.src, event: JSON.parse(JSON.stringify(event)) }
    })

// Rust strings cannot hold lone surrogates, so such input is out of scope (it cannot
// reach `parse`/`matches`; over wasm it would arrive already replaced by U+FFFD).
const wellFormedJson = (c) => c.fql.isWellFormed() && (c.event === undefined || JSON.stringify(c.event).isWellFormed() &&
  !/\\ud[89a-f]/i.test(JSON.stringify(c.event)))
const wellFormedCase = expr.chain(caseFor).filter(wellFormedJson)

// Mostly-broken input: edits of generated triggers, and FQL-flavoured noise.
const ALPHABET = ['(', ')', '"', "'", '!', '=', '<', '>', '.', ',', '\\', ' ', 'a', 'n', 'd', 'o', 'r', 'u', 'l', '-',
  '+', '*', '_', '0', '5', '[', ']', 'é', '😀', '\t', '\n', '\r', 'x', 'type', 'event', 'properties.', 'null', 'true']
const mutatedCase = fc
  .tuple(wellFormedCase, fc.array(fc.tuple(fc.nat(), fc.constantFrom('insert', 'delete', 'replace'), fc.constantFrom(...ALPHABET)), { minLength: 1, maxLength: 3 }))
  .map(([c, edits]) => {
    let s = c.fql
    for (const [at, kind, ch] of edits) {
      const i = s.length ? at % (s.length + 1) : 0
      if (kind === 'insert') s = s.slice(0, i) + ch + s.slice(i)
      else if (kind === 'delete') s = s.slice(0, i) + s.slice(i + 1)
      else s = s.slice(0, i) + ch + s.slice(i + 1)
    }
    return { fql: s, event: c.event }
  })
  .filter(wellFormedJson)
const noiseCase = fc
  .tuple(fc.array(fc.constantFrom(...ALPHABET), { maxLength: 14 }), jsonValue)
  .map(([parts, v]) => ({ fql: parts.join(''), event: { type: 'track', event: v, properties: { a: v, x: { y: v } } } }))

// ---------------------------------------------------------------- tests
const stats = {}
const tally = (label, cases, wants) => {
  const t = (stats[label] ??= { cases: 0, valid: 0, matched: 0, invalid: 0, threw: 0 })
  for (const r of wants) {
    t.cases++
    if (r.error) t.invalid++
    else {
      t.valid++
      if (r.matches) t.matched++
      if (r.threw) t.threw++
    }
  }
}

async function checkProperty(label, caseArb, numRuns) {
  const batch = fc.array(caseArb, { minLength: BATCH, maxLength: BATCH })
  // The cases fc.assert below runs (same seed and runs; fast-check draws them identically),
  // compared once up front for the coverage stats and the summary line.
  const cases = fc.sample(batch, { seed, numRuns }).flat()
  const { wants, mismatches } = await compareCounted(label, cases)
  tally(label, cases, wants)
  console.log(`FQL conformance ${label}: ${cases.length} cases, ${cases.length - mismatches.length} matched (${percent(cases.length - mismatches.length, cases.length)})`)
  await fc.assert(
    fc.asyncProperty(batch, async (cases) => {
      const { mismatches } = await compareWithReference(cases, ours)
      assert.deepEqual(mismatches.slice(0, 1), [], `${mismatches.length} of ${cases.length} cases disagree with Segment`)
    }),
    { seed, numRuns, endOnFailure: false },
  )
}

const REGRESSIONS = [
  ['type = "track"', { type: 'track' }],
  ['type = "track" and event = "Order Completed"', { type: 'track', event: 'Order Completed' }],
  ['type = "track" or type = "identify"', { type: 'identify' }],
  ['', { type: 'track' }],
  ['all', { type: 'track' }],
  ['   ', { type: 'track' }],
  ['an', { type: 'track' }],
  ['type =', { type: 'eos' }],
  ['type', { type: 'track' }],
  ['properties.a<=5', { properties: { a: 1 } }],
  ['properties.a <= 5', { properties: { a: 5 } }],
  ['properties.a!="x"', { properties: { a: 'y' } }],
  ['properties.a != "x"', { properties: { a: 'y' } }],
  ['properties."my key" = "x"', { properties: { 'my key': 'x' } }],
  ['properties.my\\ key = "x"', { properties: { 'my key': 'x' } }],
  ['properties.x\\.y = 1', { properties: { x: { y: 1 } } }],
  ['properties.items\\[1\\] = 2', { properties: { items: [1, 2] } }],
  ['(type = "track" and (event = "x"))', { type: 'track', event: 'x' }],
  ['(type = "track") and (event = "x")', { type: 'track', event: 'x' }],
  ['(contains(event, "x")) or type = "a"', { event: 'xx' }],
  ['properties.s.length = 3', { properties: { s: 'abc' } }],
  ['properties.arr.length > 2', { properties: { arr: [1, 2, 3] } }],
  ['properties.arr.\\1 = 2', { properties: { arr: [1, 2, 3] } }],
  ['properties.s.\\0 = "😀"', { properties: { s: '😀' } }],
  ['properties.a.b = 0', { properties: { a: 0 } }],
  ['properties.a.b = false', { properties: { a: false } }],
  ['properties.a.b = ""', { properties: { a: '' } }],
  ['properties.a.constructor != null', { properties: { a: {} } }],
  ['properties.a.constructor.name = "Object"', { properties: { a: {} } }],
  ['properties.a.toString.call != null', { properties: { a: 5 } }],
  ['properties.a.toString.arguments = null', { properties: { a: 5 } }],
  ['properties.__proto__.__proto__ = null', { properties: {} }],
  ['properties.a.constructor.length = 1', { properties: { a: {} } }],
  ['properties.a.trimLeft.name = "trimStart"', { properties: { a: 'x' } }],
  ['properties.a.toString.length = 1', { properties: { a: 5 } }],
  ['properties.a.constructor.prototype.length = 0', { properties: { a: [] } }],
  ['properties.a.constructor.prototype.constructor.name = "Array"', { properties: { a: [] } }],
  ['properties.a.constructor.constructor.name = "Function"', { properties: { a: 'x' } }],
  ['event contains "Order"', { event: 'Order Completed' }],
  ['properties.x exists 1', { properties: { x: 0 } }],
  ['()', { type: 'track' }],
  ['type = "track" or ()', { type: 'track' }],
  ['type = "x" or ()', { type: 'track' }],
  ['properties.\\. = 1', { properties: {} }],
  ['type = "x" or properties.\\. = 1', { type: 'x' }],
  ['properties\\. = 1', { properties: {} }],
  ['constructor = 1', { type: 'track' }],
  ['constructor = 1 type = "track"', { type: 'track' }],
  ['type = "x" or type = "track" and event = "y"', { type: 'track', event: 'z' }],
  ['type = "x" and type = "track" or event = "y"', { type: 'track' }],
  ['!type = "x"', { type: 'x' }],
  ['!contains(event, "x")', { event: 'abc' }],
  ['!match(event, "a*")', { event: 'abc' }],
  ['match(event, "abc")', { event: 'xbc' }],
  ['match(event, "😀c")', { event: 'a😀c' }],
  ['match(event, "😀c")', { event: 'ac' }],
  ['contains(type, "tr")', { type: 'track' }],
  ['contains(propertiesX, "a")', { properties: { propertiesX: 'a' } }],
  ['contains("event", "a")', { event: 'a' }],
  ['event = 1.50', { event: '1.5' }],
  ['event = 100000000000000000000000', { event: '1e+23' }],
  ['event = -', { event: 'NaN' }],
  ['properties.a = -', { properties: { a: 1 } }],
  ['properties.a != -', { properties: { a: 1 } }],
  ['properties.a < "0x10"', { properties: { a: 3 } }],
  ['properties.a < " 12 "', { properties: { a: 3 } }],
  ['properties.a > ""', { properties: { a: 3 } }],
  ['properties.a < true', { properties: { a: 0 } }],
  ['properties.a = \'x\'', { properties: { a: "'x'" } }],
  ['userId = true', { userId: true }],
  ['userId = 5', { userId: '5' }],
  ['name = true', { name: 'true' }],
  ['name != null', { name: '' }],
  ['event = null', { event: 'null' }],
  ['traits.email != null and context.traits.email = null', { traits: { email: 'x' }, context: {} }],
  ['type = "track"', null],
  ['type = "track"', 'track'],
  ['type = "track"', undefined],
  ['properties.a = "x"and', { properties: { a: 'x' } }],
  ['properties.a = "x".b', { properties: { a: 'x' } }],
  ['type = "a" "b"', { type: 'a' }],
  ['type="track"', { type: 'track' }],
  ['type = "track" and(event = "x")', { type: 'track' }],
  ['type = "tr\\"ack"', { type: 'tr\\' }],
  ['type = "track"\r', { type: 'track' }],
  ['type = é', { type: 'é' }],
  ['type = \\é', { type: 'é' }],
  ['type = \\😀', { type: '😀' }],
  ['1.2.3', {}],
  ['type = 5.', {}],
  ['type = 5.a', { type: '5' }],
]

test('hand-picked cases agree with Segment', async () => {
  const cases = REGRESSIONS.map(([fql, event]) => ({ fql, event }))
  const { mismatches } = await compareCounted('hand-picked', cases)
  assert.deepEqual(mismatches, [])
})

test('nesting 64 brackets deep is invalid for both', async () => {
  const fql = '('.repeat(64) + 'type = "track"' + ')'.repeat(64)
  const { got, mismatches } = await compareCounted('hand-picked', [{ fql, event: { type: 'track' } }])
  assert.deepEqual(mismatches, [])
  assert.ok(got[0].error)
})

test('generated triggers agree with Segment (property-based)', { timeout: 30 * 60_000 }, async () => {
  await checkProperty('generated', wellFormedCase, runs)
})

test('mutated and random triggers agree with Segment (property-based)', { timeout: 30 * 60_000 }, async () => {
  await checkProperty('mutated', fc.oneof(mutatedCase, noiseCase), runs)
})

test('generator coverage', () => {
  console.log(`FQL conformance coverage (per Segment): ${JSON.stringify(stats)}`)
  assert.ok(stats.generated && stats.mutated, 'the property-based tests did not get to run')
  const g = stats.generated
  assert.ok(g.valid > g.cases * 0.5, 'most generated triggers are valid')
  assert.ok(g.matched > g.valid * 0.15, 'at least 15% of valid generated triggers match their event')
  assert.ok(g.matched < g.valid * 0.85, 'at least 15% of valid generated triggers do not match their event')
  assert.ok(stats.mutated.invalid > stats.mutated.cases * 0.3, 'mutations produce invalid triggers')
})
