// Shared by the benchmark scripts (run by benches/run.mjs, i.e. `make bench`): the events, the
// destination options, and the statistics. The events come from the differential suite's
// generator (tests/differential/generate.mjs), cached as JSON under benches/out so every bench
// process (and benches/core.rs) reads exactly the same events.
import { existsSync, mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs'
import { join, resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateEvents } from '../tests/differential/generate.mjs'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const OUT = join(ROOT, 'benches', 'out')
export const SEED = Number(process.env.BENCH_SEED ?? 20261130)
export const RUNS = Number(process.env.BENCH_RUNS ?? 5)

// The same settings the differential suite uses (pixel + app ids, a placeholder token).
export const SETTINGS = Object.freeze({ pixel_id: 'px-123', snap_app_id: 'snap-app-456', app_id: 'com.example.app', access_token: 'TEST_TOKEN' })
export const DESTINATION = 'snap-conversions-api'

/** Path of the cached JSON array of `n` generated events (generated on first use). */
export function eventsFile(n) {
  mkdirSync(OUT, { recursive: true })
  const file = join(OUT, `events-${SEED}-${n}.json`)
  if (!existsSync(file)) {
    const tmp = `${file}.${process.pid}.tmp`
    writeFileSync(tmp, JSON.stringify(generateEvents(n, SEED)))
    renameSync(tmp, file)
  }
  return file
}

export const loadEvents = (n) => JSON.parse(readFileSync(eventsFile(n), 'utf8'))

/**
 * Warm-up once, then `runs` timed runs. Returns medians of wall time (`ms`) and of this
 * process's CPU time (`cpuMs`, user + system, all threads): with other work on the machine the
 * CPU time is the steadier of the two.
 */
export async function medianMs(fn, runs = RUNS) {
  return (await medianMsEach([fn], runs))[0]
}

/**
 * Like medianMs for several functions, their runs interleaved (a, b, a, b, ...) so a change in
 * the machine's load during the measurement hits all of them alike.
 */
export async function medianMsEach(fns, runs = RUNS) {
  for (const fn of fns) await fn()
  const walls = fns.map(() => [])
  const cpus = fns.map(() => [])
  for (let i = 0; i < runs; i++) {
    for (let j = 0; j < fns.length; j++) {
      const c = process.cpuUsage()
      const t = performance.now()
      await fns[j]()
      walls[j].push(performance.now() - t)
      const d = process.cpuUsage(c)
      cpus[j].push((d.user + d.system) / 1000)
    }
  }
  return fns.map((_, j) => ({ ms: median(walls[j]), cpuMs: median(cpus[j]), samples: walls[j] }))
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

export const perSec = (count, ms) => Math.round((count / ms) * 1000)

/** Each bench script prints one JSON line `BENCH {...}` that benches/run.mjs collects. */
export function report(result) {
  process.stdout.write(`BENCH ${JSON.stringify(result)}\n`)
}
