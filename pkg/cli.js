#!/usr/bin/env node
// edge-actions CLI: plan or send NDJSON Segment events. Input is streamed: raw NDJSON text
// goes to the core a chunk at a time (no JSON work in JS), output is written with
// backpressure and reading waits for it, so memory stays flat whatever the input size or
// however slow the reader of stdout. Output is NDJSON in input order.
import { createReadStream, readFileSync, statSync } from 'node:fs'
import { once } from 'node:events'
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { parseArgs } from 'node:util'
import { resolve, dirname } from 'node:path'
import { EdgeActionsError } from './core.js'
import { runMonitor, previousDay } from './monitor.js'
import { FileRecordStore } from './monitor-file.js'

const USAGE = `usage: edge-actions <plan|send> --destination NAME --settings settings.json
                    [--subscriptions subs.json] [--base-url URL]
                    [--concurrency N] [--max-attempts N] [--timeout-ms N]
                    [--rate N] [--burst N] [--record FILE] [--workers N] [--quiet]
                    [events.ndjson]
       edge-actions monitor --config monitor.json [--day YYYY-MM-DD] [--webhook URL]
                    [--record FILE] [--json]
Reads NDJSON Segment events from the file or stdin; prints NDJSON lines on stdout and a
summary on stderr (--quiet: none).
  --workers N    plan: plan chunks on N worker threads (default: the machine's cores; 1 =
                 in this thread). Output is the same, in input order, whatever N.
  --record FILE  send: add the counts of what was sent to this record file (monitoring)
monitor: compares the record with what Snap / Braze report for the day (default: yesterday,
UTC); prints one line per check (--json: the report); exit 1 on a discrepancy, 3 when a check
could not run. See README "Monitoring".
  --rate N   at most N requests per second per pixel / app id (default: no ceiling; a 429
             halves the rate, which then recovers)
  --burst N  requests that may start back to back under --rate (default 20)`

// Lines per call into the core, and a byte cap for long lines: large enough to amortise the
// crossing into wasm, small enough to keep memory flat.
const CHUNK_LINES = 500
const CHUNK_BYTES = 1 << 20
const READ_BYTES = 1 << 20
const PROGRESS_AFTER_MS = 2000
// Far above the core's 512 KB event limit: only bounds what one line can make us hold.
const LONG_LINE = 8 << 20
// Beyond this many threads (each a wasm instance) there is only memory to lose.
const MAX_WORKERS = 64

function fail(message, code = 2) {
  process.stderr.write(`edge-actions: ${message}\n`)
  process.exit(code)
}

function readJson(path, what) {
  try {
    return JSON.parse(readFileSync(path, 'utf8'))
  } catch (e) {
    fail(`cannot read ${what} file ${path}: ${e.message}`)
  }
}

// How errors are shown, for an error here or one a worker sent (a plain object, see
// pkg/cli-worker.js): a bad configuration as `code (field): message`, a failed run as
// `code: message`, anything else by its message or stack.
const isEdge = (e) => e instanceof EdgeActionsError || e?.name === 'EdgeActionsError'
const configError = (e) => (isEdge(e) ? `${e.code}${e.field ? ` (${e.field})` : ''}: ${e.message}` : e.message)
const runError = (e) => (isEdge(e) ? `${e.code}: ${e.message}` : String(e?.stack ?? e))

function positive(values, flag) {
  if (values[flag] === undefined) return undefined
  const n = Number(values[flag])
  if (!Number.isFinite(n) || n <= 0) fail(`--${flag} must be a positive number`)
  return n
}

async function main() {
  let parsed
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        destination: { type: 'string' },
        settings: { type: 'string' },
        subscriptions: { type: 'string' },
        'base-url': { type: 'string' },
        concurrency: { type: 'string' },
        'max-attempts': { type: 'string' },
        'timeout-ms': { type: 'string' },
        rate: { type: 'string' },
        burst: { type: 'string' },
        record: { type: 'string' },
        workers: { type: 'string' },
        config: { type: 'string' },
        day: { type: 'string' },
        webhook: { type: 'string' },
        json: { type: 'boolean' },
        quiet: { type: 'boolean', short: 'q' },
        help: { type: 'boolean', short: 'h' }
      }
    })
  } catch (e) {
    fail(`${e.message}\n${USAGE}`)
  }
  const { values, positionals } = parsed
  if (values.help) {
    process.stdout.write(USAGE + '\n')
    return
  }
  const [command, file, ...rest] = positionals
  if (command === 'monitor') return monitorCommand(values, positionals.slice(1))
  if (command !== 'plan' && command !== 'send') fail(`expected a command, plan, send or monitor\n${USAGE}`)
  if (rest.length) fail(`unexpected arguments: ${rest.join(' ')}`)
  if (!values.destination) fail('--destination is required')
  if (!values.settings) fail('--settings is required')
  let workers = 1
  if (values.workers !== undefined) {
    if (command !== 'plan') fail('--workers applies to plan only')
    workers = Number(values.workers)
    if (!Number.isInteger(workers) || workers < 1 || workers > MAX_WORKERS) fail(`--workers must be an integer from 1 to ${MAX_WORKERS}`)
  } else if (command === 'plan') workers = Math.min(availableParallelism(), MAX_WORKERS)

  const options = {
    destination: values.destination,
    settings: readJson(values.settings, 'settings'),
    subscriptions: values.subscriptions ? readJson(values.subscriptions, 'subscriptions') : undefined,
    baseUrl: values['base-url'],
    rateLimit: { requestsPerSecond: positive(values, 'rate'), burst: positive(values, 'burst') }
  }
  // The options are checked once, before any input is read: here, or with --workers N by the
  // first worker to build its destination (this thread then needs no wasm instance of its own).
  const inThread = !(command === 'plan' && workers > 1)
  const { createDestination, monitor: monitorCore } = inThread ? await import('./node.js') : {}
  let dest
  if (inThread) {
    try {
      dest = createDestination(options)
    } catch (e) {
      fail(configError(e))
    }
  }
  const sendOptions = {}
  for (const [flag, key] of [['concurrency', 'concurrency'], ['max-attempts', 'maxAttempts'], ['timeout-ms', 'timeoutMs']]) {
    if (values[flag] !== undefined) sendOptions[key] = Number(values[flag])
  }

  const total = { events: 0, planned: 0, delivered: 0, rejected: 0, skipped: 0, failed: 0 }
  const out = process.stdout
  // A reader that goes away (`| head`) ends the run quietly.
  out.on('error', (e) => process.exit(e.code === 'EPIPE' ? 0 : 1))
  const write = async (text) => {
    if (text && !out.write(text)) await once(out, 'drain')
  }

  const started = Date.now()
  const progress = !values.quiet && process.stderr.isTTY
  let lastProgress = 0
  const showProgress = () => {
    const now = Date.now()
    if (!progress || now - started < PROGRESS_AFTER_MS || now - lastProgress < 1000) return
    lastProgress = now
    process.stderr.write(`\redge-actions: ${total.events} events read...`)
  }

  // --record: the chunks' records are merged in memory and written once at the end.
  const recording = command === 'send' && values.record !== undefined
  let record = null
  let nextLine = 1
  const tally = (counts) => {
    for (const k of Object.keys(total)) total[k] += counts[k] ?? 0
    showProgress()
  }
  // A file of a chunk or more starts every thread at once, so that they boot side by side
  // instead of the second starting only when the first has work queued.
  const eager = Boolean(file) && (() => { try { return statSync(file).size >= CHUNK_BYTES } catch { return false } })()
  const pool = inThread ? null : await planPool(workers, options, write, tally, eager)
  const run = async (bytes, lines) => {
    const firstLine = nextLine
    nextLine += lines
    if (pool) return pool.plan(bytes, firstLine)
    let output, counts
    if (command === 'plan') ({ output, counts } = dest.planNdjsonBytes(bytes, { firstLine }))
    else if (recording) {
      let part
      ;({ output, counts, record: part } = await dest.sendNdjsonWithRecord(bytes.toString(), sendOptions, { firstLine }))
      record = monitorCore.mergeRecords([record, part])
    } else ({ output, counts } = await dest.sendNdjson(bytes.toString(), sendOptions, { firstLine }))
    await write(output)
    tally(counts)
  }

  // The input stays bytes until it is planned (by a worker, or in run() with --workers 1):
  // lines are cut at '\n' bytes, which UTF-8 never uses inside a character, and chunks are cut
  // at CHUNK_LINES lines or CHUNK_BYTES, whichever comes first, so they do not depend on how
  // the input happens to be read (file or pipe).
  const input = file ? createReadStream(file, { highWaterMark: READ_BYTES }) : process.stdin
  input.on('error', (e) => fail(`cannot read ${file}: ${e.message}`))
  // `for await` reads only when the loop asks, so a slow stdout pauses the input.
  let parts = [] // the chunk's complete lines (buffers into what was read)
  let size = 0
  let lines = 0
  let tail = [] // the line not yet complete
  let tailBytes = 0
  const chunk = () => {
    const bytes = Buffer.allocUnsafeSlow(size)
    let at = 0
    for (const p of parts) {
      bytes.set(p, at)
      at += p.length
    }
    parts = []
    size = 0
    return bytes
  }
  const add = (part) => {
    parts.push(part)
    size += part.length
  }
  const completeTail = () => {
    for (const p of tail) add(p)
    tail = []
    tailBytes = 0
  }
  // A line longer than LONG_LINE is not held in memory: it is skipped to its end and the core
  // gets a marker (see pkg/core.js) so it still has its INVALID_EVENT line, in order.
  let skipping = false
  const skipped = () => {
    const message = `line ${nextLine + lines}: The event is longer than ${LONG_LINE} bytes`
    add(Buffer.from('!' + JSON.stringify({ message, messageId: null }) + '\n'))
    lines++
    skipping = false
  }
  for await (const data of input) {
    let start = 0
    if (skipping) {
      const nl = data.indexOf(10)
      if (nl < 0) continue
      start = nl + 1
      skipped()
    }
    let last = -1
    for (let nl = data.indexOf(10, start); nl >= 0; nl = data.indexOf(10, nl + 1)) {
      if (tailBytes) completeTail()
      last = nl
      if (++lines >= CHUNK_LINES || size + nl + 1 - start >= CHUNK_BYTES) {
        add(data.subarray(start, nl + 1))
        start = nl + 1
        const n = lines
        lines = 0
        await run(chunk(), n)
      }
    }
    if (last >= start) add(data.subarray(start, (start = last + 1)))
    if (start < data.length) {
      tail.push(data.subarray(start))
      tailBytes += data.length - start
      if (tailBytes > LONG_LINE) {
        tail = []
        tailBytes = 0
        skipping = true
      }
    }
  }
  if (skipping) skipped()
  completeTail()
  // The last line needs no newline; a chunk of blank lines alone is not worth a call.
  const last = chunk()
  if (last.toString().trim()) await run(last, lines + 1)
  await pool?.close()

  if (recording) {
    try {
      await new FileRecordStore(monitorCore, values.record).add(record)
    } catch (e) {
      fail(`cannot write the record file ${values.record}: ${e.message}`, 1)
    }
  }
  if (progress && lastProgress) process.stderr.write('\r\x1b[K')
  if (!values.quiet) {
    const done = command === 'plan' ? `${total.planned} planned` : `${total.delivered} delivered`
    const tail = command === 'send' ? `, ${total.failed} failed` : ''
    process.stderr.write(`edge-actions: ${total.events} events read; ${done}, ${total.rejected} rejected, ${total.skipped} skipped${tail}\n`)
  }
  if (command === 'send' && total.failed + total.rejected > 0) process.exitCode = 1
}

// `plan --workers N`: chunks are planned on N worker threads (pkg/cli-worker.js, one wasm
// instance each) and written in input order by sequence number. At most two chunks per worker
// are in flight (queued, being planned, or planned and waiting for their turn to be written;
// a chunk counts until its output is written), so memory stays bounded and a slow stdout
// pauses the input as it does in one thread. Resolves once the first worker has built its
// destination (a bad configuration fails the run there); `plan(bytes, firstLine)` resolves
// once the chunk is handed to a worker, `close()` once every chunk is written and the workers
// are gone.
async function planPool(n, options, write, tally, eager) {
  const limit = 2 * n
  const results = new Map()
  let sent = 0
  let written = 0
  let wake = null
  let closing = false
  let pumping = false
  const wakeUp = () => {
    const w = wake
    wake = null
    w?.()
  }
  const waitForSlot = () => new Promise((r) => (wake = r))
  const pump = async () => {
    if (pumping) return
    pumping = true
    while (results.has(written)) {
      const r = results.get(written)
      results.delete(written)
      // The same message, and the same point in the output, as a failure in one thread.
      if (r.error) fail(runError(r.error), 1)
      await write(r.output)
      tally(r.counts)
      written++
      wakeUp()
    }
    pumping = false
  }
  const module = new WebAssembly.Module(readFileSync(new URL('./wasm-node/edge_actions_bg.wasm', import.meta.url)))
  let ready
  const started = new Promise((r) => (ready = r))
  // Threads start as the input needs them (each costs a Node start and a destination): a
  // small input gets one, the first, which also checks the options; a large file all of them
  // at once (`eager`).
  const threads = []
  const spawn = () => {
    const w = new Worker(new URL('./cli-worker.js', import.meta.url), { workerData: { options, module } })
    w.queued = 0
    w.on('message', (m) => {
      if (m.ready) return ready()
      // Every worker gets the same options: the first to find them bad ends the run, once.
      if (m.seq < 0) fail(configError(m.error))
      w.queued--
      results.set(m.seq, m)
      pump().catch((e) => fail(runError(e), 1))
    })
    w.on('error', (e) => fail(`worker thread failed: ${runError(e)}`, 1))
    w.on('exit', (code) => {
      if (!closing) fail(`worker thread exited early (code ${code})`, 1)
    })
    threads.push(w)
    return w
  }
  spawn()
  if (eager) while (threads.length < n) spawn()
  await started
  return {
    async plan(bytes, firstLine) {
      while (sent - written >= limit) await waitForSlot()
      let w = threads.reduce((a, b) => (b.queued < a.queued ? b : a))
      if (w.queued > 0 && threads.length < n) w = spawn()
      w.queued++
      // The chunk's own buffer (see chunk()) is handed over, not copied.
      w.postMessage({ seq: sent++, bytes, firstLine }, [bytes.buffer])
    },
    async close() {
      while (written < sent) await waitForSlot()
      closing = true
      await Promise.all(threads.map((w) => w.terminate()))
    }
  }
}

// Credentials come from the configuration file or from environment variables it names (never
// printed): snap.accessToken | snap.accessTokenEnv (default SNAP_MARKETING_ACCESS_TOKEN), the
// refresh trio snap.refreshToken / clientId / clientSecret (or their *Env names),
// braze.apiKey | braze.apiKeyEnv (default BRAZE_API_KEY), webhook | webhookEnv.
function fromConfig(section, key, defaultEnv) {
  if (!section) return defaultEnv ? process.env[defaultEnv] || undefined : undefined
  if (typeof section[key] === 'string' && section[key]) return section[key]
  const env = section[`${key}Env`] ?? defaultEnv
  return env ? process.env[env] || undefined : undefined
}

async function monitorCommand(values, rest) {
  if (rest.length) fail(`unexpected arguments: ${rest.join(' ')}`)
  if (!values.config) fail('--config is required')
  const config = readJson(values.config, 'monitor configuration')
  if (config === null || typeof config !== 'object' || Array.isArray(config)) fail('the monitor configuration must be a JSON object')
  const day = values.day ?? previousDay()
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) fail('--day must be YYYY-MM-DD')
  // store.file is relative to the configuration file; --record to the working directory.
  const recordPath = values.record ?? (typeof config.store?.file === 'string' ? resolve(dirname(values.config), config.store.file) : undefined)
  if (!recordPath) fail('no record file: pass --record FILE or set store.file in the configuration')
  const snap = config.snap ?? {}
  const credentials = {
    snap: {
      accessToken: fromConfig(snap, 'accessToken', 'SNAP_MARKETING_ACCESS_TOKEN'),
      refreshToken: fromConfig(snap, 'refreshToken', 'SNAP_REFRESH_TOKEN'),
      clientId: fromConfig(snap, 'clientId', 'SNAP_CLIENT_ID'),
      clientSecret: fromConfig(snap, 'clientSecret', 'SNAP_CLIENT_SECRET')
    },
    braze: { apiKey: fromConfig(config.braze ?? {}, 'apiKey', 'BRAZE_API_KEY') }
  }
  const webhook = values.webhook ?? fromConfig(config, 'webhook')
  const { monitor: monitorCore } = await import('./node.js')
  let report
  try {
    report = await runMonitor({ core: monitorCore, config, store: new FileRecordStore(monitorCore, recordPath), day, credentials, webhook })
  } catch (e) {
    fail(configError(e))
  }
  if (values.json) process.stdout.write(JSON.stringify(report) + '\n')
  else for (const f of report.findings) process.stdout.write(f.line + '\n')
  if (!values.quiet) {
    const hook = report.webhookPosted ? '; webhook posted' : report.webhookError ? `; ${report.webhookError}` : ''
    process.stderr.write(`edge-actions monitor ${day}: ${report.findings.length} checks, ${report.alerts} discrepancies, ${report.errors} could not run${hook}\n`)
  }
  process.exitCode = report.alerts > 0 ? 1 : report.errors > 0 ? 3 : 0
}

main().catch((e) => fail(runError(e), 1))
