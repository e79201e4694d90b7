// The growth plot (benches/growth.mjs): hand-written SVG, no dependency.
//   node benches/plot.mjs benches/out/results.json out.svg   redraws it from a `make bench` run
import { readFileSync, writeFileSync } from 'node:fs'

const fmt = (x) => x.toLocaleString('en-US')

// Log-log plot of time against events; a straight line of slope 1 is linear growth.
export function growthSvg(rows) {
  const W = 680, H = 400, L = 95, R = 45, T = 40, B = 50
  const pts = rows.flatMap((r) => [r.batchedMs, r.oneCallMs].filter((v) => v != null))
  const xs = rows.map((r) => r.n)
  const lx0 = Math.floor(Math.log10(Math.min(...xs))), lx1 = Math.ceil(Math.log10(Math.max(...xs)))
  const ly0 = Math.floor(Math.log10(Math.min(...pts))), ly1 = Math.ceil(Math.log10(Math.max(...pts)))
  const X = (n) => L + ((Math.log10(n) - lx0) / (lx1 - lx0 || 1)) * (W - L - R)
  const Y = (ms) => H - B - ((Math.log10(ms) - ly0) / (ly1 - ly0 || 1)) * (H - T - B)
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`, `<rect width="${W}" height="${H}" fill="white"/>`]
  out.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">edge-actions plan() in Node: time vs events (log-log)</text>`)
  for (let e = lx0; e <= lx1; e++) out.push(`<line x1="${X(10 ** e)}" y1="${T}" x2="${X(10 ** e)}" y2="${H - B}" stroke="#ddd"/><text x="${X(10 ** e)}" y="${H - B + 18}" text-anchor="middle">${fmt(10 ** e)}</text>`)
  for (let e = ly0; e <= ly1; e++) out.push(`<line x1="${L}" y1="${Y(10 ** e)}" x2="${W - R}" y2="${Y(10 ** e)}" stroke="#ddd"/><text x="${L - 6}" y="${Y(10 ** e) + 4}" text-anchor="end">${fmt(10 ** e)} ms</text>`)
  out.push(`<text x="${W / 2}" y="${H - 12}" text-anchor="middle">events</text>`)
  // Linear reference through the smallest batched point.
  const r0 = rows[0]
  const lin = (n) => (r0.batchedMs * n) / r0.n
  out.push(`<line x1="${X(r0.n)}" y1="${Y(lin(r0.n))}" x2="${X(rows.at(-1).n)}" y2="${Y(lin(rows.at(-1).n))}" stroke="#999" stroke-dasharray="4 4"/>`)
  const series = [['batchedMs', '#1f77b4', 'plan() in 1,000-event batches'], ['oneCallMs', '#d62728', 'one plan() call']]
  series.forEach(([key, color, label], i) => {
    const p = rows.filter((r) => r[key] != null).map((r) => `${X(r.n).toFixed(1)},${Y(r[key]).toFixed(1)}`)
    out.push(`<polyline points="${p.join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>`)
    for (const q of p) out.push(`<circle cx="${q.split(',')[0]}" cy="${q.split(',')[1]}" r="3" fill="${color}"/>`)
    out.push(`<text x="${L + 10}" y="${T + 16 + i * 16}" fill="${color}">${label}</text>`)
  })
  out.push(`<text x="${L + 10}" y="${T + 48}" fill="#999">dashed: linear (slope 1)</text>`, '</svg>')
  return out.join('\n') + '\n'
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [from, to] = process.argv.slice(2)
  writeFileSync(to, growthSvg(JSON.parse(readFileSync(from, 'utf8')).results.growth.rows))
}
