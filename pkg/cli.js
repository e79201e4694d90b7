#!/usr/bin/env node
// edge-actions CLI: plan or send NDJSON Segment events. Input is streamed: raw NDJSON text
// goes to the core a chunk at a time (no JSON work in JS), output is written with
// backpressure and reading waits for it, so memory stays flat whatever the input size or
// however slow the reader of stdout. Output is NDJSON in input order.
import { createReadStream, readFileSync } from 'node:fs'
import { once } from 'node:events'
import { parseArgs } from 'node:util'
import { resolve, dirname } from 'node:path'
import { createDestination, EdgeActionsError, monitor as monitorCore } from './node.js'
import { runMonitor, previousDay } from './monitor.js'
import { FileRecordStore } from './monitor-file.js'

const USAGE = `usage: edge-actions <plan|send> --destination NAME --settings settings.json
                    [--subscriptions subs.json] [--base-url URL]
                    [--concurrency N] [--max-attempts N] [--timeout-ms N]
                    [--rate N] [--burst N] [--record FILE] [--quiet] [events.ndjson]
       edge-actions monitor --config monitor.json [--day YYYY-MM-DD] [--webhook URL]
                    [--record FILE] [--json]
Reads NDJSON Segment events from the file or stdin; prints NDJSON lines on stdout and a
summary on stderr (--quiet: none).
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
const PROGRESS_AFTER_MS = 2000
// Far above the core's 512 KB event limit: only bounds what one line can make us hold.
const LONG_LINE = 8 << 20

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

  let dest
  try {
    dest = createDestination({
      destination: values.destination,
      settings: readJson(values.settings, 'settings'),
      subscriptions: values.subscriptions ? readJson(values.subscriptions, 'subscriptions') : undefined,
      baseUrl: values['base-url'],
      rateLimit: { requestsPerSecond: positive(values, 'rate'), burst: positive(values, 'burst') }
    })
  } catch (e) {
    fail(e instanceof EdgeActionsError ? `${e.code}${e.field ? ` (${e.field})` : ''}: ${e.message}` : e.message)
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
  const run = async (text, lines) => {
    const firstLine = nextLine
    nextLine += lines
    let output, counts
    if (command === 'plan') ({ output, counts } = dest.planNdjson(text, { firstLine }))
    else if (recording) {
      let part
      ;({ output, counts, record: part } = await dest.sendNdjsonWithRecord(text, sendOptions, { firstLine }))
      record = monitorCore.mergeRecords([record, part])
    } else ({ output, counts } = await dest.sendNdjson(text, sendOptions, { firstLine }))
    for (const k of Object.keys(total)) total[k] += counts[k] ?? 0
    await write(output)
    showProgress()
  }

  const input = file ? createReadStream(file, { encoding: 'utf8' }) : process.stdin.setEncoding('utf8')
  input.on('error', (e) => fail(`cannot read ${file}: ${e.message}`))
  // `for await` reads only when the loop asks, so a slow stdout pauses the input.
  let pending = ''
  let chunk = ''
  let chunkLines = 0
  // A line longer than LONG_LINE is not held in memory: it is skipped to its end and the core
  // gets a marker (see pkg/core.js) so it still has its INVALID_EVENT line, in order.
  let skipping = false
  const skipped = () => {
    const message = `line ${nextLine + chunkLines}: The event is longer than ${LONG_LINE} characters`
    chunk += '!' + JSON.stringify({ message, messageId: null }) + '\n'
    chunkLines++
    skipping = false
  }
  for await (let data of input) {
    if (skipping) {
      const nl = data.indexOf('\n')
      if (nl < 0) continue
      data = data.slice(nl + 1)
      skipped()
    }
    pending += data
    const cut = pending.lastIndexOf('\n')
    if (cut < 0) {
      if (pending.length > LONG_LINE) {
        pending = ''
        skipping = true
      }
      continue
    }
    const complete = pending.slice(0, cut + 1)
    pending = pending.slice(cut + 1)
    for (let i = complete.indexOf('\n'); i >= 0; i = complete.indexOf('\n', i + 1)) chunkLines++
    chunk += complete
    if (chunkLines >= CHUNK_LINES || chunk.length >= CHUNK_BYTES) {
      await run(chunk, chunkLines)
      chunk = ''
      chunkLines = 0
    }
  }
  if (skipping) skipped()
  chunk += pending
  if (chunk.trim()) await run(chunk, chunkLines + 1)

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
  let report
  try {
    report = await runMonitor({ core: monitorCore, config, store: new FileRecordStore(monitorCore, recordPath), day, credentials, webhook })
  } catch (e) {
    fail(e instanceof EdgeActionsError ? `${e.code}${e.field ? ` (${e.field})` : ''}: ${e.message}` : e.message)
  }
  if (values.json) process.stdout.write(JSON.stringify(report) + '\n')
  else for (const f of report.findings) process.stdout.write(f.line + '\n')
  if (!values.quiet) {
    const hook = report.webhookPosted ? '; webhook posted' : report.webhookError ? `; ${report.webhookError}` : ''
    process.stderr.write(`edge-actions monitor ${day}: ${report.findings.length} checks, ${report.alerts} discrepancies, ${report.errors} could not run${hook}\n`)
  }
  process.exitCode = report.alerts > 0 ? 1 : report.errors > 0 ? 3 : 0
}

main().catch((e) => fail(e instanceof EdgeActionsError ? `${e.code}: ${e.message}` : String(e?.stack ?? e), 1))
