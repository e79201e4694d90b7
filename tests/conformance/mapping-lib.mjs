// Helpers for the mapping-kit conformance suite (mapping.test.mjs): reference runner,
// comparison, the two "ours" batch functions (wasm package, cargo oracle), and fast-check
// generators.
//
// `compareBatch(cases, ours)` is the reusable core: `ours` is any async batch function
// `(cases) => Promise<Array<{ok: any} | {error: any}>>`: `wasmOracle` (the shipped package's
// `transform`, the default) or `cargoOracle` (CONFORMANCE_ORACLE=cargo, see oracle.mjs).
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { isDeepStrictEqual } from 'node:util'
import { fileURLToPath } from 'node:url'
import path from 'node:path'
import fc from 'fast-check'
import { callPackage, loadPackage } from './oracle.mjs'

const require = createRequire(import.meta.url)
const { transform: segmentTransform } = require('@segment/actions-core')

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

/** JSON round trip; `undefined` (no JSON form) becomes null like our Rust API returns. */
export function jsonRoundTrip(v) {
  const s = JSON.stringify(v)
  return s === undefined ? null : JSON.parse(s)
}

/** Runs Segment's reference on one case; normalised to {ok} / {error}. */
export function reference(c) {
  try {
    // The reference mutates mappings (@replace defaults, root directive); give it a copy.
    const mapping = structuredClone(c.mapping)
    return { ok: jsonRoundTrip(segmentTransform(mapping, structuredClone(c.payload))) }
  } catch (e) {
    return { error: String(e?.message ?? e) }
  }
}

/** Same outcome: equal values, or both failed (messages are not compared). */
export function sameOutcome(a, b) {
  if ('error' in a || 'error' in b) return 'error' in a && 'error' in b
  return isDeepStrictEqual(a.ok, b.ok)
}

/**
 * Compares `ours` with the reference on every case; returns {total, matched, mismatches}.
 * Cases are JSON round-tripped first so both sides see exactly the same input.
 */
export async function compareBatch(cases, ours) {
  const norm = cases.map((c) => ({ mapping: jsonRoundTrip(c.mapping), payload: jsonRoundTrip(c.payload) }))
  const got = await ours(norm)
  assert.equal(got.length, norm.length, 'ours() must answer every case')
  const mismatches = []
  let unrepresentable = 0
  norm.forEach((c, i) => {
    const want = reference(c)
    if (dependsOnLoneSurrogate(want)) {
      unrepresentable++ // known difference: Rust strings cannot hold lone UTF-16 surrogates
      return
    }
    if (!sameOutcome(want, got[i])) mismatches.push({ index: i, case: c, segment: want, ours: got[i] })
  })
  const total = norm.length - unrepresentable
  return { total, matched: total - mismatches.length, mismatches, unrepresentable }
}

/**
 * Batch function backed by the wasm package's `transform(mapping, payload)` (pkg/node.js):
 * `{ok: result}`, or `{error: {code, field, message}}` when it throws EdgeActionsError.
 * The package JSON-serialises both arguments; cases are JSON round-tripped already.
 */
export async function wasmOracle(cases) {
  const { transform, EdgeActionsError } = await loadPackage()
  return cases.map((c) => callPackage(EdgeActionsError, () => ({ ok: transform(c.mapping, c.payload) }), c))
}

/** Batch function backed by the cargo example `mapping_oracle` (NDJSON over stdio). */
export async function cargoOracle(cases) {
  const input = cases.map((c) => JSON.stringify(c)).join('\n') + '\n'
  const bin = process.env.ORACLE_BIN
  const r = bin
    ? spawnSync(bin, [], { input, maxBuffer: 1 << 30 })
    : spawnSync('cargo', ['run', '--quiet', '--release', '--example', 'mapping_oracle'], {
        cwd: ROOT,
        input,
        maxBuffer: 1 << 30
      })
  if (r.status !== 0) throw new Error(`oracle failed (${r.status}): ${r.stderr}`)
  return r.stdout
    .toString()
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l))
}

// ---------------------------------------------------------------- generators

// Lone surrogates (e.g. from indexing astral strings) cannot exist in Rust strings.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/
export function hasLoneSurrogate(v) {
  if (typeof v === 'string') return LONE_SURROGATE.test(v)
  if (v && typeof v === 'object') return Object.entries(v).some(([k, x]) => LONE_SURROGATE.test(k) || hasLoneSurrogate(x))
  return false
}

// JSON.stringify writes a lone surrogate as an escape ("\udcb7"). Once escaped backslashes
// ("\\") are dropped, a high-surrogate escape not followed by a low one, or a low one not
// preceded by a high one, is such an escape.
const ESCAPED_SURROGATE = /\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f])|(?<!\\ud[89ab][0-9a-f]{2})\\ud[c-f][0-9a-f]{2}/i
function hasEscapedLoneSurrogate(v) {
  if (typeof v === 'string') return ESCAPED_SURROGATE.test(v.replace(/\\\\/g, ''))
  if (v && typeof v === 'object') return Object.values(v).some(hasEscapedLoneSurrogate)
  return false
}

/**
 * Whether Segment's outcome hinges on a lone UTF-16 surrogate (from indexing a string by
 * UTF-16 unit), which our Rust strings hold as U+FFFD instead: one in the result, one that
 * `@json` encode / the Liquid `json` filter escaped into it, or encodeURIComponent's
 * "URI malformed" (Liquid `url_encode`), which only a lone surrogate raises.
 */
export function dependsOnLoneSurrogate(want) {
  if ('error' in want) return /URI malformed/.test(want.error)
  return hasLoneSurrogate(want.ok) || hasEscapedLoneSurrogate(want.ok)
}

const KEYS = ['a', 'b', 'c', 'email', 'products', 'id', '0', '1', '2', 'Snap Conversions Api', 'x y', 'ünï', 'length', 'value', 'mapping', '10', '_metadata']
const key = fc.constantFrom(...KEYS)
const outKey = fc.oneof(fc.constantFrom('out', 'x', 'y', '0', '3', 'a b', 'é', '_metadata'), fc.fullUnicodeString({ maxLength: 4 }))

const trickyStrings = fc.constantFrom(
  '', ' ', '0', '1', 'x', 'a.b', '{{a}}', '{{{b}}}', '{"a":1}', '[1,2]', 'null', 'true', '1e400', '"q"',
  'Hello World', 'ÀÉÎ ß ǅ', 'ﬀ', '😀 emoji', 'İı', 'ς Σ ΣΑΣ', 'ſK', '$&$$', 'a\tb\nc', '\u00a0 nb \ufeff', 'lower', 'upper'
)
const text = fc.oneof(
  { weight: 3, arbitrary: trickyStrings },
  { weight: 2, arbitrary: fc.fullUnicodeString({ maxLength: 8 }) },
  { weight: 2, arbitrary: fc.stringOf(fc.constantFrom('a', 'A', 'b', '.', '$', '&', ' ', '{', '}', 'ß', 'İ', '-', '\\', '['), { maxLength: 8 }) }
)
const number = fc.oneof(
  fc.constantFrom(0, 1, -1, 0.1, 1.5, 1e21, 1.5e-7, 123456789012345680000, 2 ** 53 + 2, -0.000001),
  fc.integer({ min: -1000, max: 1000 }),
  fc.double({ noNaN: true, noDefaultInfinity: true })
)
const prim = fc.oneof(fc.constant(null), fc.boolean(), number, text)

const { json: jsonValue } = fc.letrec((tie) => ({
  json: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 4, arbitrary: prim },
    { weight: 1, arbitrary: fc.array(tie('json'), { maxLength: 4 }) },
    { weight: 2, arbitrary: fc.dictionary(key, tie('json'), { maxKeys: 5 }) }
  )
}))

const product = fc.dictionary(fc.constantFrom('id', 'a', 'b', 'value', 'email'), prim, { maxKeys: 4 })
const payload = fc
  .tuple(
    fc.dictionary(key, jsonValue, { maxKeys: 8 }),
    fc.option(fc.array(fc.oneof({ weight: 5, arbitrary: product }, { weight: 1, arbitrary: prim }), { maxLength: 4 }))
  )
  .map(([o, products]) => (products === null ? o : { ...o, products }))

const pathString = fc.oneof(
  { weight: 6, arbitrary: fc.array(key, { minLength: 1, maxLength: 3 }).map((ks) => '$.' + ks.join('.')) },
  { weight: 2, arbitrary: fc.array(key, { minLength: 1, maxLength: 3 }).map((ks) => ks.join('.')) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(key, fc.constantFrom('[0]', '[1]', "['x y']", '["a"]', '[a]', '.0', '[10]', "['0']]", '..', '.length'), fc.option(key))
      .map(([a, b, c]) => `$.${a}${b}${c === null ? '' : '.' + c}`)
  },
  { weight: 1, arbitrary: fc.constantFrom('', '$.', '.', '$', '$.$.a', 'a.$.b', '$.products[0].id', "$['a']", '$.Snap Conversions Api') }
)

const templateString = fc
  .array(
    fc.oneof(
      text,
      pathString.map((p) => `{{${p.replace('$.', '')}}}`),
      pathString.map((p) => `{{{ ${p.replace('$.', '')} }}}`),
      fc.constantFrom('{{', '}}', '{{}}', '{{ }}', '{{{a}}', '{{a}}}', '{{{{a}}}}', '{{a.b}}')
    ),
    { maxLength: 4 }
  )
  .map((parts) => parts.join(''))

const smallString = (max) => fc.stringOf(fc.constantFrom('a', 'A', 'o', 'O', '.', '$', '&', "'", '`', '1', ' ', 'ß', 'S', 'İ', 'i', 'ſ', 'k', 'K', '\\', '*', '😀'), { maxLength: max })

/** Record whose fields are each left out now and then (`freq`: 1 in freq missing). */
const opt = (arb, freq) => fc.option(arb, { freq, nil: undefined })
const rec = (fields, freq = 2) =>
  fc.record(Object.fromEntries(Object.entries(fields).map(([k, a]) => [k, opt(a, freq)]))).map((o) => {
    for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k]
    return o
  })

const pathDirective = pathString.map((p) => ({ '@path': p }))

// Liquid: the subset we implement (plus disabled filters/tags, which must fail on both sides).
const lqPath = fc
  .tuple(fc.constantFrom('a', 'b', 'c', 'email', 'products', 'id', 'value', 'v'), fc.array(fc.constantFrom('.a', '.b', '.id', '[0]', '[1]', '[-1]', '.size', '.first', '.last', '.length', "['a']"), { maxLength: 2 }))
  .map(([h, t]) => h + t.join(''))
const lqLit = fc.oneof(fc.constantFrom("'x'", '"A b"', "''", '1', '2.5', '-3', '0', 'true', 'false', 'nil', 'empty', 'blank', "','"), fc.integer({ min: -20, max: 20 }).map(String))
const lqOperand = fc.oneof({ weight: 3, arbitrary: lqPath }, { weight: 2, arbitrary: lqLit })
const lqFilter = fc.oneof(
  fc.constantFrom('upcase', 'downcase', 'capitalize', 'strip', 'lstrip', 'rstrip', 'strip_newlines', 'size', 'first', 'last', 'abs', 'ceil', 'floor', 'round', 'json', 'url_encode', 'join', 'sort', 'uniq', 'reverse'),
  fc.tuple(fc.constantFrom('append', 'prepend', 'remove', 'remove_first', 'remove_last', 'split', 'join', 'default', 'plus', 'minus', 'times', 'divided_by', 'modulo', 'at_least', 'at_most', 'round'), lqOperand).map(([f, a]) => `${f}: ${a}`),
  fc.tuple(fc.constantFrom('replace', 'replace_first', 'replace_last'), lqOperand, lqOperand).map(([f, a, b]) => `${f}: ${a}, ${b}`),
  fc.constantFrom('default: 1, allow_false: true', 'divided_by: 2, true')
)
const lqExpr = fc.tuple(lqOperand, fc.array(lqFilter, { maxLength: 3 })).map(([v, fs]) => [v, ...fs].join(' | '))
const lqCond = fc
  .array(
    fc.oneof(lqOperand, fc.tuple(lqOperand, fc.constantFrom('==', '!=', '<', '>', '<=', '>=', 'contains'), lqOperand).map((x) => x.join(' '))),
    { minLength: 1, maxLength: 3 }
  )
  .chain((cs) => fc.array(fc.constantFrom('and', 'or'), { minLength: cs.length - 1, maxLength: cs.length - 1 }).map((ops) => cs.map((c, i) => (i ? ops[i - 1] + ' ' : '') + c).join(' ')))
const { lq: lqTemplate } = fc.letrec((tie) => ({
  lq: fc.array(
    fc.oneof(
      { depthSize: 'small' },
      { weight: 3, arbitrary: fc.constantFrom('x', ' ', ' \n ', 'é', '😀', '}', '{ ') },
      { weight: 5, arbitrary: fc.tuple(fc.constantFrom('{{', '{{-'), lqExpr, fc.constantFrom('}}', '-}}')).map(([a, e, b]) => `${a} ${e} ${b}`) },
      { weight: 2, arbitrary: fc.tuple(fc.constantFrom('if', 'unless'), lqCond, tie('lq'), fc.option(tie('lq')), fc.option(lqCond)).map(([t, c, body, other, c2]) =>
          `{% ${t} ${c} %}${body}${c2 !== null && t === 'if' ? `{% elsif ${c2} %}x` : ''}${other !== null ? `{% else %}${other}` : ''}{% end${t} %}`) },
      { weight: 1, arbitrary: fc.tuple(lqExpr, tie('lq')).map(([e, rest]) => `{% assign v = ${e} %}${rest}`) },
      { weight: 1, arbitrary: tie('lq').map((b) => `{% capture v %}${b}{% endcapture %}[{{ v }}]`) },
      { weight: 1, arbitrary: fc.constantFrom('{% comment %}{{ a }}{% endcomment %}', '{% raw %}{{ a }}{% endraw %}', '{% echo a %}', '{% for x in products %}{% endfor %}', '{% case a %}{% endcase %}', '{%- if a -%} t {%- endif -%}', '{{ }}', '{{ a') }
    ),
    { maxLength: 4 }
  ).map((parts) => parts.join(''))
}))

const { mapping } = fc.letrec((tie) => {
  const m = tie('mapping')
  const valueArg = fc.oneof({ weight: 8, arbitrary: pathDirective }, { weight: 2, arbitrary: text }, { weight: 1, arbitrary: m })
  const directives = [
    pathDirective,
    { weight: 1, arbitrary: fc.oneof(m, number).map((p) => ({ '@path': p })) },
    fc.oneof({ weight: 4, arbitrary: templateString }, { weight: 1, arbitrary: m }).map((t) => ({ '@template': t })),
    fc.oneof(m, jsonValue).map((v) => ({ '@literal': v })),
    fc
      .tuple(
        fc.constantFrom('exists', 'exists', 'exists', 'blank', 'blank', 'both', 'none'),
        fc.oneof({ weight: 4, arbitrary: pathDirective }, { weight: 1, arbitrary: m }),
        rec({ then: m, else: m })
      )
      .map(([kind, cond, rest]) => {
        const o = { ...rest }
        if (kind === 'exists' || kind === 'both') o.exists = cond
        if (kind === 'blank' || kind === 'both') o.blank = cond
        return { '@if': o }
      }),
    rec({ operator: fc.constantFrom('lower', 'upper', 'lower', 'upper', 'lower', 'upper', 'LOWER', 'x', '', 1), value: valueArg }, 15).map((o) => ({ '@case': o })),
    fc
      .tuple(
        fc.oneof({ weight: 12, arbitrary: smallString(10).filter((x) => x.length > 0) }, { weight: 1, arbitrary: smallString(12) }),
        rec({ value: valueArg }, 15),
        rec({
          replacement: fc.oneof({ weight: 12, arbitrary: smallString(10) }, { weight: 1, arbitrary: fc.constantFrom(null, 'abcdefghijk') }),
          ignorecase: fc.oneof({ weight: 8, arbitrary: fc.boolean() }, { weight: 1, arbitrary: fc.constant(null) }),
          global: fc.oneof({ weight: 8, arbitrary: fc.boolean() }, { weight: 1, arbitrary: fc.constant(null) }),
          pattern2: smallString(11),
          replacement2: fc.oneof(smallString(11), fc.constant(null), fc.constant(3))
        })
      )
      .map(([pattern, v, o]) => ({ '@replace': { pattern, ...v, ...o } })),
    fc
      .tuple(
        fc.oneof({ weight: 4, arbitrary: pathString }, { weight: 1, arbitrary: pathDirective }),
        fc.oneof(
          { weight: 4, arbitrary: fc.dictionary(outKey, fc.oneof(pathDirective, m), { maxKeys: 3 }) },
          { weight: 1, arbitrary: m }
        ),
        fc.constantFrom(0, 1, 2, 2, 2, 2)
      )
      .map(([p, shape, n]) => ({ '@arrayPath': [p, shape].slice(0, n) })),
    fc
      .tuple(fc.constantFrom('encode', 'decode', 'encode', 'decode', 'encode', 'decode', 'ENCODE', 'x'), fc.oneof(valueArg, jsonValue, fc.constantFrom('{"a":[1,{"b":null}]}', '1e400', ' [1] ', '"\\ud83d\\ude00"', '{"1":1,"a":2,"0":3}')))
      .map(([mode, value]) => ({ '@json': { mode, value } })),
    fc.tuple(
      rec({ separator: fc.constantFrom('.', '_', '.', '_', '.', '_', '', 1, '::'), value: fc.oneof(valueArg, jsonValue) }, 15),
      rec({ omitArrays: fc.oneof(fc.boolean(), fc.constantFrom('x', 0, null)) })
    ).map(([a, b]) => ({ ...a, ...b })).map((o) => ({
      '@flatten': o
    })),
    rec({
      direction: fc.constantFrom('left', 'right', 'left', 'right', 'left', 'right', 'LEFT', 'x'),
      objects: fc.array(fc.oneof({ weight: 4, arbitrary: fc.dictionary(outKey, m, { maxKeys: 3 }) }, pathDirective, m), { maxLength: 3 })
    }, 15).map((o) => ({ '@merge': o })),
    rec({ apply: fc.dictionary(key, m, { maxKeys: 3 }), mapping: fc.oneof(fc.dictionary(outKey, m, { maxKeys: 3 }), m) }, 15).map((o) => ({
      '@transform': o
    })),
    m.map((v) => ({ '@excludeWhenNull': v })),
    { weight: 5, arbitrary: lqTemplate.map((t) => ({ '@liquid': t })) },
    { weight: 1, arbitrary: fc.constantFrom({ '@nope': 1 }, { '@path': '$.a', other: 1 }, { '@path': '$.a', _metadata: { x: 1 } }, { '@path': '$.a', '@if': {} }, { '@if': 5 }, { '@json': [] }) }
  ].map((a) => (a.arbitrary ? a : { weight: 6, arbitrary: a }))
  return {
    mapping: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      { weight: 2, arbitrary: prim },
      { weight: 8, arbitrary: fc.oneof(...directives) },
      { weight: 2, arbitrary: fc.dictionary(outKey, m, { maxKeys: 4 }) },
      { weight: 1, arbitrary: fc.array(m, { maxLength: 3 }) }
    )
  }
})

const topMapping = fc.oneof(
  { weight: 12, arbitrary: fc.dictionary(outKey, mapping, { minKeys: 1, maxKeys: 4 }) },
  { weight: 1, arbitrary: mapping },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.dictionary(key, mapping, { maxKeys: 3 }), fc.dictionary(outKey, mapping, { maxKeys: 3 }))
      .map(([apply, rest]) => ({ ...rest, __segment_internal_directive: { '@transform': { apply } } }))
  }
)

export const caseArbitrary = fc.record({ mapping: topMapping, payload })


/** Cases that are one `@liquid` template each: for exercising the Liquid subset harder. */
export const liquidCaseArbitrary = fc.record({ mapping: lqTemplate.map((t) => ({ out: { '@liquid': t } })), payload })
