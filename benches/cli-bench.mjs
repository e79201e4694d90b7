// The CLI end to end: `edge-actions plan` (pkg/cli.js) reading an NDJSON file of the generated
// events and writing NDJSON to a file, as a separate process: wall time, events/s, CPU time
// (user + system, all threads), cores busy (CPU / wall) and peak RSS (GNU time's %M). Median of
// BENCH_RUNS (5) after a warm-up.
// Env: BENCH_CLI_N (10000); BENCH_CLI_WORKERS, a comma list of --workers values to compare
// (default: none given, i.e. the machine's cores); BENCH_CLI_BASELINE, another build's pkg
// directory (e.g. a copy of main's) run alongside. Several variants run interleaved (a, b, a,
// b, ...) so a change in the machine's load hits all alike; every variant's output must be
// byte for byte the first one's.
//   BENCH_CLI_BASELINE=/tmp/cli-baseline-pkg BENCH_CLI_WORKERS=1,2 node benches/cli-bench.mjs
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync, existsSync, openSync, closeSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { loadEvents, median, perSec, report, OUT, ROOT, RUNS, SEED, SETTINGS, DESTINATION } from './common.mjs'

const N = Number(process.env.BENCH_CLI_N ?? 10000)
const input = join(OUT, `events-${SEED}-${N}.ndjson`)
if (!existsSync(input)) writeFileSync(input, loadEvents(N).map((e) => JSON.stringify(e)).join('\n') + '\n')
const settings = join(OUT, 'settings.json')
writeFileSync(settings, JSON.stringify(SETTINGS))
const timing = join(OUT, 'cli-time.txt')

const ours = join(ROOT, 'pkg', 'cli.js')
const variants = (process.env.BENCH_CLI_WORKERS ? process.env.BENCH_CLI_WORKERS.split(',') : [null]).map((w) => ({
  name: w === null ? 'cli' : `--workers ${w}`,
  cli: ours,
  args: w === null ? [] : ['--workers', w]
}))
if (process.env.BENCH_CLI_BASELINE) variants.unshift({ name: 'baseline', cli: join(resolve(process.env.BENCH_CLI_BASELINE), 'cli.js'), args: [] })

function run(v) {
  const output = join(OUT, `cli-plan-${variants.indexOf(v)}.ndjson`)
  const fd = openSync(output, 'w')
  try {
    execFileSync('/usr/bin/time', ['-f', '%e %U %S %M', '-o', timing, process.execPath, v.cli, 'plan', ...v.args, '--destination', DESTINATION, '--settings', settings, input], {
      // stdout straight into a file, as `> file` would.
      stdio: ['ignore', fd, 'ignore']
    })
  } finally {
    closeSync(fd)
  }
  const [wall, user, sys, rssKb] = readFileSync(timing, 'utf8').trim().split(/\s+/).map(Number)
  return { ms: wall * 1000, cpuMs: (user + sys) * 1000, rssMb: rssKb / 1024 }
}

for (const v of variants) run(v)
const runs = variants.map(() => [])
for (let i = 0; i < RUNS; i++) variants.forEach((v, j) => runs[j].push(run(v)))

const outputs = variants.map((_, j) => readFileSync(join(OUT, `cli-plan-${j}.ndjson`)))
variants.forEach((v, j) => {
  if (!outputs[j].equals(outputs[0])) throw new Error(`${v.name}: output differs from ${variants[0].name}'s`)
})
const outputLines = outputs[0].toString().split('\n').filter(Boolean).length
const results = variants.map((v, j) => {
  const r = runs[j]
  const result = { name: v.name, events: N, outputLines, ms: median(r.map((x) => x.ms)), cpuMs: median(r.map((x) => x.cpuMs)), peakRssMb: median(r.map((x) => x.rssMb)) }
  result.eventsPerSec = perSec(N, result.ms)
  result.coresBusy = Math.round((result.cpuMs / result.ms) * 100) / 100
  console.log(`${v.name.padEnd(12)} plan: ${N} events -> ${outputLines} lines in ${result.ms.toFixed(0)} ms = ${result.eventsPerSec} events/s (CPU ${result.cpuMs.toFixed(0)} ms, ${result.coresBusy} cores busy), peak RSS ${result.peakRssMb.toFixed(0)} MB (median of ${RUNS})`)
  return result
})
// benches/run.mjs reads one line: the current CLI (its first variant).
report({ ...results.find((r) => r.name !== 'baseline'), name: 'cli' })
