#!/usr/bin/env node
// edge-actions CLI: plan or send NDJSON Segment events. Input is streamed in chunks so memory
// stays flat on large files; output is NDJSON in input order.
import { createReadStream, readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { createDestination, EdgeActionsError } from './node.js'

const USAGE = `usage: edge-actions <plan|send> --destination NAME --settings settings.json
                    [--subscriptions subs.json] [--base-url URL]
                    [--concurrency N] [--max-attempts N] [--timeout-ms N] [events.ndjson]
Reads NDJSON Segment events from the file or stdin; prints NDJSON lines.`

const CHUNK = 500

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
  if (command !== 'plan' && command !== 'send') fail(`expected a command, plan or send\n${USAGE}`)
  if (rest.length) fail(`unexpected arguments: ${rest.join(' ')}`)
  if (!values.destination) fail('--destination is required')
  if (!values.settings) fail('--settings is required')

  let dest
  try {
    dest = createDestination({
      destination: values.destination,
      settings: readJson(values.settings, 'settings'),
      subscriptions: values.subscriptions ? readJson(values.subscriptions, 'subscriptions') : undefined,
      baseUrl: values['base-url']
    })
  } catch (e) {
    fail(e instanceof EdgeActionsError ? `${e.code}${e.field ? ` (${e.field})` : ''}: ${e.message}` : e.message)
  }
  const sendOptions = {}
  for (const [flag, key] of [['concurrency', 'concurrency'], ['max-attempts', 'maxAttempts'], ['timeout-ms', 'timeoutMs']]) {
    if (values[flag] !== undefined) sendOptions[key] = Number(values[flag])
  }

  let failed = 0
  const out = (line) => process.stdout.write(JSON.stringify(line) + '\n')
  let chunk = []
  const flush = async () => {
    if (!chunk.length) return
    const events = chunk
    chunk = []
    const lines = command === 'plan' ? dest.plan(events) : await dest.send(events, sendOptions)
    for (const line of lines) {
      if (command === 'send' && line.delivered === false) failed++
      out(line)
    }
  }

  const input = file ? createReadStream(file) : process.stdin
  input.on('error', (e) => fail(`cannot read ${file}: ${e.message}`))
  let n = 0
  for await (const raw of createInterface({ input, crlfDelay: Infinity })) {
    n++
    if (!raw.trim()) continue
    let event
    try {
      event = JSON.parse(raw)
    } catch (e) {
      // Keep input order: everything before the bad line goes out first.
      await flush()
      out({ messageId: null, error: { code: 'INVALID_EVENT', message: `line ${n} is not valid JSON: ${e.message}` } })
      if (command === 'send') failed++
      continue
    }
    chunk.push(event)
    if (chunk.length >= CHUNK) await flush()
  }
  await flush()
  if (failed > 0) process.exitCode = 1
}

main().catch((e) => fail(e instanceof EdgeActionsError ? `${e.code}: ${e.message}` : String(e?.stack ?? e), 1))
