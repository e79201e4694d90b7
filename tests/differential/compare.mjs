// Comparison helpers for the differential test: structural JSON diff and line grouping.

export function typeOf(v) {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  return typeof v
}

// All differences between two JSON values, as [{ path, oracle, ours }], in document order
// (keys of `a` first, then keys only in `b`). Paths look like `$.data[0].user_data.em[0]`.
export function jsonDiff(a, b, path = '$', out = []) {
  if (Object.is(a, b)) return out
  const ta = typeOf(a)
  const tb = typeOf(b)
  if (ta !== tb) {
    out.push({ path, oracle: a, ours: b })
    return out
  }
  if (ta === 'array') {
    const n = Math.max(a.length, b.length)
    for (let i = 0; i < n; i++) {
      if (i >= a.length) out.push({ path: `${path}[${i}]`, oracle: undefined, ours: b[i] })
      else if (i >= b.length) out.push({ path: `${path}[${i}]`, oracle: a[i], ours: undefined })
      else jsonDiff(a[i], b[i], `${path}[${i}]`, out)
    }
    return out
  }
  if (ta === 'object') {
    const seen = new Set()
    for (const k of Object.keys(a)) {
      seen.add(k)
      const p = /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`
      if (!(k in b) || b[k] === undefined) {
        if (a[k] !== undefined) out.push({ path: p, oracle: a[k], ours: undefined })
      } else jsonDiff(a[k], b[k], p, out)
    }
    for (const k of Object.keys(b)) {
      if (seen.has(k) || b[k] === undefined) continue
      const p = /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`
      out.push({ path: p, oracle: undefined, ours: b[k] })
    }
    return out
  }
  // numbers compare by value (Object.is already handled identical ones; 0 vs -0 counts as equal)
  if (ta === 'number' && a === b) return out
  out.push({ path, oracle: a, ours: b })
  return out
}

// `$.data[3].user_data.em[0]` -> `$.data[].user_data.em[]` (for grouping)
export function genericPath(p) {
  return p.replace(/\[\d+\]/g, '[]')
}

export function subscriptionKey(line) {
  const s = line?.subscription
  if (s === undefined || s === null) return '__event__'
  if (typeof s === 'string') return s
  return s.name ?? s.id ?? JSON.stringify(s)
}

export function lineKind(line) {
  if (!line) return 'absent'
  if (line.request) return 'request'
  if (line.error) return 'error'
  if (line.skipped) return 'skipped'
  return 'unknown'
}

// Group one event's lines by subscription. Skipped lines are folded into `skipped`.
export function groupLines(lines) {
  const bySub = new Map()
  let skipped = false
  const dupes = []
  for (const l of lines) {
    if (l && l.skipped && !l.request && !l.error) {
      skipped = true
      continue
    }
    const k = subscriptionKey(l)
    if (bySub.has(k)) dupes.push(k)
    else bySub.set(k, l)
  }
  return { bySub, skipped, dupes }
}

export function short(v, max = 160) {
  let s
  try {
    s = v === undefined ? 'undefined' : JSON.stringify(v)
  } catch {
    s = String(v)
  }
  return s.length > max ? s.slice(0, max - 1) + '…' : s
}
