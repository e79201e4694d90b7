// The CLI end to end: `edge-actions plan` (pkg/cli.js) reading an NDJSON file of the generated
// events and writing NDJSON to a file, as a separate process: wall time, events/s, CPU time and
// peak RSS (GNU time's %M). Median of BENCH_RUNS (5) after a warm-up.
// Env: BENCH_CLI_N (10000).
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync, existsSync, openSync, closeSync } from 'node:fs'
import { join } from 'node:path'
import { loadEvents, median, perSec, report, OUT, ROOT, RUNS, SEED, SETTINGS, DESTINATION } from './common.mjs'

const N = Number(process.env.BENCH_CLI_N ?? 10000)
const input = join(OUT, `events-${SEED}-${N}.ndjson`)
if (!existsSync(input)) writeFileSync(input, loadEvents(N).map((e) => JSON.stringify(e)).join('\n') + '\n')
const settings = join(OUT, 'settings.json')
writeFileSync(settings, JSON.stringify(SETTINGS))
const output = join(OUT, 'cli-plan.ndjson')
const timing = join(OUT, 'cli-time.txt')

function run() {
  const fd = openSync(output, 'w')
  try {
    execFileSync('/usr/bin/time', ['-f', '%e %U %S %M', '-o', timing, process.execPath, join(ROOT, 'pkg', 'cli.js'), 'plan', '--destination', DESTINATION, '--settings', settings, input], {
      // stdout straight into a file, as `> file` would.
      stdio: ['ignore', fd, 'inherit']
    })
  } finally {
    closeSync(fd)
  }
  const [wall, user, sys, rssKb] = readFileSync(timing, 'utf8').trim().split(/\s+/).map(Number)
  return { ms: wall * 1000, cpuMs: (user + sys) * 1000, rssMb: rssKb / 1024 }
}

run()
const runs = Array.from({ length: RUNS }, run)
const lines = readFileSync(output, 'utf8').split('\n').filter(Boolean)
const result = {
  name: 'cli',
  events: N,
  outputLines: lines.length,
  ms: median(runs.map((r) => r.ms)),
  cpuMs: median(runs.map((r) => r.cpuMs)),
  peakRssMb: median(runs.map((r) => r.rssMb))
}
result.eventsPerSec = perSec(N, result.ms)
console.log(`cli plan: ${N} events -> ${lines.length} lines in ${result.ms.toFixed(0)} ms = ${result.eventsPerSec} events/s (CPU ${result.cpuMs.toFixed(0)} ms), peak RSS ${result.peakRssMb.toFixed(0)} MB (median of ${RUNS})`)
report(result)
