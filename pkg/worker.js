// Ready-made Cloudflare Worker: Segment -> Worker -> destination APIs (Snap Conversions API).
// Deploy it with the repository's wrangler.toml (`main = "pkg/worker.js"`), or from the npm
// package: `main = "node_modules/edge-actions/pkg/worker.js"` / `export { default } from
// 'edge-actions/worker'`. Configuration, routes and guarantees: docs/worker.md.
//
//   POST /events, POST /     Segment events (authenticated): queued (202) or delivered inline
//   GET|POST clickIds.path   first-party Snap click id collection (public, default /sc/collect)
//   GET /dlq                 parked dead letters (authenticated)
//   POST /dlq/replay         re-enqueue parked dead letters (authenticated)
//   POST /dlq/drain          delete parked dead letters (authenticated)
//   GET /health              200 {"ok":true}, or the configuration error
import { createDestination } from './workerd.js'
import {
  loadConfig,
  WorkerConfigError,
  BINDINGS,
  QUEUE_MESSAGE_MAX_BYTES,
  QUEUE_MESSAGE_OVERHEAD_BYTES,
  QUEUE_SEND_BATCH_MAX_MESSAGES,
  QUEUE_SEND_BATCH_MAX_BYTES,
  QUEUE_MAX_DELAY_SECONDS,
  retryDelaySeconds
} from './worker-config.js'
import { HttpError, readBody, makeAuthenticator, parseJson, eventsOf } from './worker-inbound.js'
import { handleCollect, fillClickIds } from './worker-clickids.js'
import { monitor as monitorCore } from './workerd.js'
import { runMonitor, KvRecordStore, previousDay } from './monitor.js'


const MESSAGE_VERSION = 1
const DLQ_PREFIX = 'dlq:'
const encoder = new TextEncoder()
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v)

// Parsed and validated once per isolate (env is the same object for every request of an
// isolate); a bad configuration is remembered too and answered on every request.
const states = new WeakMap()
function stateFor(env) {
  let s = states.get(env)
  if (!s) {
    try {
      const cfg = loadConfig(env, createDestination)
      s = { cfg, authenticate: makeAuthenticator(cfg.auth) }
      log('log', { kind: 'config-loaded', destinations: cfg.destinations.map((d) => d.name), queue: Boolean(cfg.queueBinding), kv: Boolean(cfg.kv) })
    } catch (e) {
      const error = e instanceof WorkerConfigError ? e : new WorkerConfigError('configuration', `could not be loaded (${e?.name ?? 'Error'})`)
      s = { error }
      log('error', { kind: 'config', setting: error.setting, message: error.message })
    }
    states.set(env, s)
  }
  return s
}

// One JSON line per outcome, for `wrangler tail` / Workers Logs. Never event bodies or secrets.
function log(level, fields) {
  const line = JSON.stringify({ src: 'edge-actions', ...fields })
  if (level === 'error') console.error(line)
  else if (level === 'warn') console.warn(line)
  else console.log(line)
}

const json = (value, status = 200, headers = {}) => Response.json(value, { status, headers })
const errorResponse = (status, code, message, extra = {}, headers = {}) => json({ error: { code, message, ...extra } }, status, headers)

// The only export: workerd treats a main module's named exports as entrypoints.
export default {
  async fetch(request, env) {
    const s = stateFor(env)
    if (s.error) return errorResponse(500, 'CONFIG_ERROR', s.error.message, { setting: s.error.setting })
    const { cfg } = s
    const { pathname } = new URL(request.url)
    try {
      if (cfg.clickIds.enabled && pathname === cfg.clickIds.path) return await handleCollect(request, cfg.clickIds, cfg.kv)
      if (pathname === '/health') return json({ ok: true })
      if (pathname === '/dlq' || pathname.startsWith('/dlq/')) return await handleDlq(request, pathname, s)
      if (pathname === '/' || pathname === '/events') {
        if (request.method !== 'POST') return errorResponse(405, 'METHOD_NOT_ALLOWED', 'POST Segment events here', {}, { allow: 'POST' })
        return await handleEvents(request, s)
      }
      return errorResponse(404, 'NOT_FOUND', `no route ${pathname}`)
    } catch (e) {
      if (e instanceof HttpError) return errorResponse(e.status, e.code, e.message, {}, e.headers)
      log('error', { kind: 'internal', route: pathname, error: e?.name ?? 'Error', message: String(e?.message ?? e) })
      // 503: the caller (Segment) retries; the details are in the logs, never in the answer.
      return errorResponse(503, 'INTERNAL', 'the Worker failed to process the request; retry later')
    }
  },

  async queue(batch, env) {
    const s = stateFor(env)
    if (s.error) {
      // Keep the messages: they are delivered once the configuration is fixed.
      batch.retryAll({ delaySeconds: 300 })
      return
    }
    if (batch.queue === s.cfg.queue.deadLetterQueue) return parkDeadLetters(batch, s.cfg)
    return consume(batch, s.cfg)
  },

  // Cron trigger ([triggers] crons in wrangler.toml): the monitor for the previous UTC day. A
  // run with discrepancies or failed checks throws after logging, so the Cron Event shows it.
  async scheduled(controller, env) {
    const s = stateFor(env)
    if (s.error) throw new Error(`configuration: ${s.error.message}`)
    if (!s.cfg.monitor) {
      log('warn', { kind: 'monitor-not-configured', message: `a cron trigger ran, but ${BINDINGS.config} has no "monitor" section` })
      return
    }
    const report = await runScheduledMonitor(s.cfg, env, previousDay(controller.scheduledTime ?? Date.now()))
    if (!report.ok) throw new Error(`monitor ${report.day}: ${report.alerts} discrepancies, ${report.errors} checks could not run`)
  }
}

async function handleEvents(request, s) {
  const { cfg } = s
  const bytes = await readBody(request, cfg.inbound.maxBodyBytes)
  await s.authenticate(request, bytes)
  const events = eventsOf(parseJson(bytes), cfg.inbound.maxEvents)
  if (cfg.clickIds.enabled) await fillClickIds(events, cfg.kv)
  const { accepted, rejected } = screen(events)
  for (const line of rejected) log('warn', { kind: 'rejected', messageId: line.messageId, error: line.error })
  return cfg.queueBinding ? enqueue(accepted, rejected, cfg) : deliverInline(accepted, rejected, cfg)
}

// The core's per-event nesting limit (MAX_EVENT_DEPTH in src/input.rs). Checked here too, on the
// parsed value, so such an event is rejected before it is queued, and JSON.stringify never meets
// one deep enough to overflow its stack.
const MAX_EVENT_DEPTH = 64
function tooDeep(root, limit) {
  const stack = [[root, 1]]
  while (stack.length) {
    const [v, depth] = stack.pop()
    if (depth > limit) return true
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1])
    }
  }
  return false
}

// Events that no retry could ever deliver are rejected here, per event, so that they never
// turn the whole request into a 503 that Segment would retry for hours.
function screen(events) {
  const accepted = []
  const rejected = []
  const reject = (index, messageId, message) => rejected.push({ index, messageId, error: { code: 'INVALID_EVENT', message, retryable: false } })
  for (const [index, event] of events.entries()) {
    const messageId = isObject(event) && typeof event.messageId === 'string' ? event.messageId : null
    if (!isObject(event)) {
      reject(index, messageId, 'an event must be a JSON object')
      continue
    }
    if (tooDeep(event, MAX_EVENT_DEPTH)) {
      reject(index, messageId, `the event is nested more than ${MAX_EVENT_DEPTH} levels deep`)
      continue
    }
    // The one JSON.stringify of the event: its size bounds queue messages, and inline delivery
    // sends this text as it is.
    const text = JSON.stringify(event)
    accepted.push({ index, messageId, event, text, bytes: encoder.encode(text).length })
  }
  return { accepted, rejected }
}

// ---------------------------------------------------------------------------------------------
// Inline delivery (no queue bound): 200 once every event is delivered or permanently rejected,
// 503 while any retryable failure remains, so Segment retries the request.

async function deliverInline(accepted, rejected, cfg) {
  const d = cfg.delivery
  const events = accepted.map((a) => a.event)
  if (events.length === 0) return json({ delivered: 0, rejected: rejected.length, retryable: 0, skipped: 0, results: rejected })
  const needed = cfg.destinations.reduce((n, dest) => n + Math.ceil(events.length / dest.batchSize) * d.maxAttempts, 0)
  if (needed > d.subrequests) {
    const perRequest = Math.max(1, Math.floor(d.subrequests / d.maxAttempts / cfg.destinations.length))
    throw new HttpError(
      413,
      'TOO_MANY_EVENTS',
      `${events.length} events could need ${needed} API requests, over the ${d.subrequests} subrequests a Worker invocation may make (delivery.subrequests): ` +
        `send at most ${perRequest} events per request (Segment Batch Size), bind a queue, or raise delivery.subrequests on a paid plan`
    )
  }
  // The destinations share the invocation's 6 connections.
  const concurrency = Math.max(1, Math.floor(d.concurrency / cfg.destinations.length))
  const options = { concurrency, maxAttempts: d.maxAttempts, timeoutMs: d.timeoutMs, baseDelayMs: d.baseDelayMs, maxRetryAfterMs: d.maxRetryAfterMs }
  const records = cfg.monitor?.record ? [] : undefined
  const ndjson = accepted.map((a) => a.text).join('\n')
  const perDestination = await Promise.all(
    cfg.destinations.map(async (dest) => {
      const lines = await sendSafely(dest, ndjson, options, records)
      if (lines) return lines.map((line) => ({ destination: dest.name, ...line }))
      return [{ destination: dest.name, messageId: null, delivered: false, attempts: 0, status: null, error: { code: 'INTERNAL', message: 'delivery failed in the Worker', retryable: true } }]
    })
  )
  await recordSent(cfg, records)
  const sent = perDestination.flat()
  for (const line of sent) logLine(line)
  // Screened-out events first (they carry their index in the request), then send() lines.
  const results = [...rejected, ...sent]
  const counts = count(results)
  const headers = {}
  if (counts.retryable > 0) {
    const waitMs = Math.max(0, ...results.map((l) => l.error?.retryAfterMs ?? 0))
    if (waitMs > 0) headers['retry-after'] = String(Math.ceil(waitMs / 1000))
  }
  return json({ ...counts, results }, counts.retryable > 0 ? 503 : 200, headers)
}

const isRetryable = (line) => !line.skipped && !line.delivered && line.error?.retryable === true
function count(lines) {
  const c = { delivered: 0, rejected: 0, retryable: 0, skipped: 0 }
  for (const l of lines) {
    if (l.skipped) c.skipped++
    else if (l.delivered) c.delivered++
    else if (isRetryable(l)) c.retryable++
    else c.rejected++
  }
  return c
}

function logLine(line, extra = {}) {
  const kind = line.skipped ? 'skipped' : line.delivered ? 'delivered' : isRetryable(line) ? 'retryable' : 'rejected'
  const fields = { kind, destination: line.destination, messageId: line.messageId, subscription: line.subscription, status: line.status, attempts: line.attempts, ...extra }
  if (line.error) fields.error = { code: line.error.code, message: line.error.message, field: line.error.field, retryAfterMs: line.error.retryAfterMs }
  if (line.skipped) fields.reason = line.skipped
  log(kind === 'rejected' || kind === 'retryable' ? 'warn' : 'log', fields)
}

// ---------------------------------------------------------------------------------------------
// Queue mode: one message per (event, destination), so a retry re-sends only what failed.

// A message's size as the queue serializes it, {"v":1,"dest":"...","event":<the event's text>},
// from the event's own size (counted once, in screen()): no JSON.stringify per destination.
const envelopeBytes = new Map()
const EVENT_MAX_BYTES = QUEUE_MESSAGE_MAX_BYTES - 1024
const bytesOf = (event) => encoder.encode(JSON.stringify(event)).length
function messageFor(event, dest, eventBytes = bytesOf(event)) {
  let envelope = envelopeBytes.get(dest)
  if (envelope === undefined) {
    envelope = encoder.encode(`{"v":${MESSAGE_VERSION},"dest":${JSON.stringify(dest)},"event":}`).length
    envelopeBytes.set(dest, envelope)
  }
  return { body: { v: MESSAGE_VERSION, dest, event }, size: envelope + eventBytes + QUEUE_MESSAGE_OVERHEAD_BYTES }
}

async function sendToQueue(queue, messages) {
  // sendBatch takes at most 100 messages and 256 KB per call.
  let chunk = []
  let bytes = 0
  const flush = async () => {
    if (chunk.length) await queue.sendBatch(chunk.map((body) => ({ body: body.body, contentType: 'json' })))
    chunk = []
    bytes = 0
  }
  for (const m of messages) {
    if (chunk.length === QUEUE_SEND_BATCH_MAX_MESSAGES || bytes + m.size > QUEUE_SEND_BATCH_MAX_BYTES) await flush()
    chunk.push(m)
    bytes += m.size
  }
  await flush()
}

async function enqueue(accepted, rejected, cfg) {
  const messages = []
  for (const { index, messageId, event, bytes } of accepted) {
    // Queue messages are limited to 128 KB; leave room for the envelope and the queue's own.
    if (bytes > EVENT_MAX_BYTES) {
      const line = { index, messageId, error: { code: 'EVENT_TOO_LARGE', message: `the event is ${bytes} bytes, over the ${EVENT_MAX_BYTES} bytes a queue message may carry`, retryable: false } }
      log('warn', { kind: 'rejected', messageId, error: line.error })
      rejected.push(line)
      continue
    }
    for (const dest of cfg.destinations) messages.push(messageFor(event, dest.name, bytes))
  }
  rejected.sort((a, b) => a.index - b.index)
  try {
    await sendToQueue(cfg.queueBinding, messages)
  } catch (e) {
    log('error', { kind: 'enqueue-failed', error: e?.name, message: String(e?.message ?? e) })
    throw new HttpError(503, 'QUEUE_UNAVAILABLE', 'could not enqueue the events; retry later')
  }
  // Nothing queued: every event was permanently rejected, and a retry would not help.
  return json({ queued: messages.length, rejected }, messages.length ? 202 : 200)
}

// Runs tasks with at most `limit` at a time.
async function pool(tasks, limit) {
  const out = new Array(tasks.length)
  let next = 0
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++
      out[i] = await tasks[i]()
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker))
  return out
}

// send() lines for events, or for their NDJSON text when the caller already has it (inline
// delivery: then no event is stringified a second time).
async function sendSafely(dest, input, options, records) {
  const d = dest.destination
  try {
    if (typeof input === 'string') {
      const sent = records ? await d.sendNdjsonWithRecord(input, options) : await d.sendNdjson(input, options)
      if (records) records.push(sent.record)
      // One line per send() line; JSON text holds no raw newline, so the lines join into an array.
      return sent.output ? JSON.parse(`[${sent.output.slice(0, -1).replaceAll('\n', ',')}]`) : []
    }
    if (!records) return await d.send(input, options)
    const { lines, record } = await d.sendWithRecord(input, options)
    records.push(record)
    return lines
  } catch (e) {
    log('error', { kind: 'send-failed', destination: dest.name, error: e?.name, message: String(e?.message ?? e) })
    return null
  }
}

// Delivers one destination's messages. Events with distinct messageIds go in one send() call
// (so the destination's batch_size can combine them); the result lines map back by messageId.
// Returns Map(message -> lines | null), null meaning "no result, retry".
async function deliverGroup(dest, msgs, options, limit, records) {
  const out = new Map()
  const ids = new Map()
  for (const m of msgs) {
    const id = m.body.event.messageId
    if (typeof id === 'string' && id !== '') ids.set(id, (ids.get(id) ?? 0) + 1)
  }
  const together = msgs.filter((m) => ids.get(m.body.event.messageId) === 1)
  const alone = msgs.filter((m) => ids.get(m.body.event.messageId) !== 1)
  if (together.length) {
    const lines = await sendSafely(dest, together.map((m) => m.body.event), { ...options, concurrency: limit }, records)
    for (const m of together) {
      const mine = lines ? lines.filter((l) => l.messageId === m.body.event.messageId) : []
      // No line for a message would mean no outcome: retry rather than ack it.
      out.set(m, mine.length ? mine : null)
    }
  }
  await pool(
    alone.map((m) => async () => {
      const lines = await sendSafely(dest, [m.body.event], { ...options, concurrency: 1 }, records)
      out.set(m, lines?.length ? lines : null)
    }),
    limit
  )
  return out
}

async function consume(batch, cfg) {
  const d = cfg.delivery
  const groups = new Map()
  let budget = d.subrequests
  for (const msg of batch.messages) {
    const body = msg.body
    if (!isObject(body) || body.v !== MESSAGE_VERSION || typeof body.dest !== 'string' || !isObject(body.event)) {
      // Not ours (or from an incompatible version): no retry could deliver it; park it to look at.
      log('error', { kind: 'bad-message', id: msg.id })
      await park(cfg, msg, 'unreadable')
      msg.ack()
      continue
    }
    const dest = cfg.byName.get(body.dest)
    if (!dest) {
      // The destination left the configuration: retry, and the message ends in the dead-letter
      // queue if it does not come back (replay it once fixed).
      log('error', { kind: 'unknown-destination', destination: body.dest, messageId: body.event.messageId ?? null })
      msg.retry({ delaySeconds: retryDelaySeconds(msg.attempts, undefined, cfg.queue) })
      continue
    }
    if (!groups.has(dest)) groups.set(dest, [])
    groups.get(dest).push(msg)
  }
  // Stay within the invocation's subrequest budget (one attempt per request here): what does not
  // fit is retried at once (it costs the message one attempt, never the message).
  const work = []
  for (const [dest, msgs] of groups) {
    const fits = Math.max(0, Math.min(msgs.length, budget * dest.batchSize))
    budget -= Math.ceil(fits / dest.batchSize)
    for (const m of msgs.slice(fits)) m.retry({ delaySeconds: 0 })
    if (fits) work.push([dest, msgs.slice(0, fits)])
  }
  const limit = Math.max(1, Math.floor(d.concurrency / Math.max(1, work.length)))
  const options = { maxAttempts: 1, timeoutMs: d.timeoutMs }
  const records = cfg.monitor?.record ? [] : undefined
  const results = await Promise.all(work.map(([dest, msgs]) => deliverGroup(dest, msgs, options, limit, records)))
  await recordSent(cfg, records)
  for (const [i, [dest]] of work.entries()) {
    for (const [msg, lines] of results[i]) await settle(msg, dest, lines, cfg)
  }
}

async function settle(msg, dest, lines, cfg) {
  const named = (lines ?? []).map((l) => ({ destination: dest.name, ...l }))
  for (const line of named) logLine(line, { queueAttempts: msg.attempts })
  if (lines === null || named.some(isRetryable)) {
    const retryAfterMs = Math.max(0, ...named.map((l) => l.error?.retryAfterMs ?? 0))
    const delaySeconds = retryDelaySeconds(msg.attempts, retryAfterMs || undefined, cfg.queue)
    log('warn', { kind: 'retry', destination: dest.name, messageId: msg.body.event.messageId ?? null, queueAttempts: msg.attempts, delaySeconds })
    msg.retry({ delaySeconds })
    return
  }
  if (cfg.queue.parkRejected && named.some((l) => !l.skipped && !l.delivered)) {
    await park(cfg, msg, 'rejected', named.filter((l) => l.error).map((l) => l.error))
  }
  msg.ack()
}

// ---------------------------------------------------------------------------------------------
// Monitoring (docs/monitoring.md): counts of what was sent go to KV, one write per invocation; a
// failed write is logged and never holds up delivery.

async function recordSent(cfg, records) {
  if (!records?.length) return
  try {
    const merged = monitorCore.mergeRecords(records)
    await new KvRecordStore(monitorCore, cfg.kv).add(merged)
  } catch (e) {
    log('error', { kind: 'record-failed', error: e?.name, message: String(e?.message ?? e) })
  }
}

async function runScheduledMonitor(cfg, env, day) {
  const { config, secrets } = cfg.monitor
  const secret = (name) => (secrets[name] ? env[secrets[name]] || undefined : undefined)
  const credentials = {
    snap: { accessToken: secret('snapAccessToken'), refreshToken: secret('snapRefreshToken'), clientId: secret('snapClientId'), clientSecret: secret('snapClientSecret') },
    braze: { apiKey: secret('brazeApiKey') }
  }
  const report = await runMonitor({ core: monitorCore, config, store: new KvRecordStore(monitorCore, cfg.kv), day, credentials, webhook: secret('webhook') })
  for (const f of report.findings) log(f.result === 'alert' || f.result === 'error' ? 'error' : 'log', { kind: 'monitor', result: f.result, line: f.line })
  const summary = { kind: 'monitor-run', day, alerts: report.alerts, errors: report.errors, webhookPosted: report.webhookPosted }
  if (report.webhookError) summary.webhookError = report.webhookError
  log(report.ok ? 'log' : 'error', summary)
  return report
}

// ---------------------------------------------------------------------------------------------
// Dead letters: the dead-letter queue's consumer parks messages in KV, where the /dlq routes list,
// replay (re-enqueue) and drain them.

// Parks a message in KV; false when there is no KV or the write failed (logged).
async function park(cfg, msg, reason, errors) {
  if (!cfg.kv) return false
  try {
    await putParked(cfg, msg, reason, errors)
    return true
  } catch (e) {
    log('error', { kind: 'park-failed', id: msg.id, message: String(e?.message ?? e) })
    return false
  }
}

async function putParked(cfg, msg, reason, errors) {
  const failedAt = new Date().toISOString()
  const key = `${DLQ_PREFIX}${failedAt}:${msg.id}`
  // attempts: this queue's deliveries (for a dead letter, the dead-letter queue's).
  const value = { id: msg.id, reason, failedAt, attempts: msg.attempts, enqueuedAt: msg.timestamp?.toISOString?.() ?? null, body: msg.body }
  if (errors) value.errors = errors.map((e) => ({ code: e.code, message: e.message, field: e.field }))
  await cfg.kv.put(key, JSON.stringify(value), { expirationTtl: Math.round(cfg.queue.deadLetterTtlDays * 86400) })
}

async function parkDeadLetters(batch, cfg) {
  if (!cfg.kv) {
    log('error', { kind: 'dead-letter-unparked', message: `bind ${BINDINGS.kv} to park dead letters, or remove the dead-letter queue consumer from wrangler.toml` })
    batch.retryAll({ delaySeconds: QUEUE_MAX_DELAY_SECONDS / 2 })
    return
  }
  for (const msg of batch.messages) {
    if (await park(cfg, msg, 'retries-exhausted')) {
      log('error', { kind: 'dead', id: msg.id, destination: msg.body?.dest, messageId: msg.body?.event?.messageId ?? null })
      msg.ack()
    } else msg.retry({ delaySeconds: 60 })
  }
}

function summary(value, full) {
  const ev = value.body?.event
  const s = {
    id: value.id,
    reason: value.reason,
    failedAt: value.failedAt,
    destination: value.body?.dest ?? null,
    messageId: ev?.messageId ?? null,
    type: ev?.type ?? null,
    event: ev?.event ?? null
  }
  if (value.errors) s.errors = value.errors
  if (full) s.message = value.body
  return s
}

async function parkedEntries(kv, { ids, limit, cursor }) {
  let keys
  let next = null
  if (ids) keys = ids.map((id) => (id.startsWith(DLQ_PREFIX) ? id : null)).filter(Boolean)
  else {
    const page = await kv.list({ prefix: DLQ_PREFIX, limit, cursor: cursor || undefined })
    keys = page.keys.map((k) => k.name)
    next = page.list_complete ? null : page.cursor
  }
  const values = await Promise.all(keys.map((k) => kv.get(k)))
  const entries = []
  for (const [i, key] of keys.entries()) {
    if (values[i] === null) continue
    try {
      entries.push({ key, value: JSON.parse(values[i]) })
    } catch {
      entries.push({ key, value: { id: key, reason: 'unreadable' } })
    }
  }
  return { entries, cursor: next }
}

async function handleDlq(request, pathname, s) {
  const { cfg } = s
  const bytes = await readBody(request, 64 * 1024)
  await s.authenticate(request, bytes)
  if (!cfg.kv) throw new HttpError(409, 'NO_KV', `dead letters are parked in KV: bind ${BINDINGS.kv} (see docs/worker.md)`)
  const url = new URL(request.url)
  let opts = {}
  if (bytes.length) {
    const body = parseJson(bytes)
    if (!isObject(body)) throw new HttpError(400, 'MALFORMED_BODY', 'body must be a JSON object such as {"keys": [...], "limit": 50}')
    opts = body
  }
  const limitRaw = opts.limit ?? url.searchParams.get('limit') ?? 50
  const limit = Number(limitRaw)
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new HttpError(400, 'BAD_LIMIT', '`limit` must be an integer from 1 to 100')
  let ids
  if (opts.keys !== undefined) {
    if (!Array.isArray(opts.keys) || opts.keys.some((k) => typeof k !== 'string') || opts.keys.length > 100) {
      throw new HttpError(400, 'BAD_KEYS', '`keys` must be an array of at most 100 keys from GET /dlq')
    }
    ids = opts.keys
  }
  const cursor = opts.cursor ?? url.searchParams.get('cursor')

  if (pathname === '/dlq' && request.method === 'GET') {
    const full = url.searchParams.get('full') === '1'
    const { entries, cursor: next } = await parkedEntries(cfg.kv, { ids, limit, cursor })
    return json({ items: entries.map(({ key, value }) => ({ ...summary(value, full), key })), cursor: next })
  }
  if (request.method !== 'POST') throw new HttpError(405, 'METHOD_NOT_ALLOWED', 'GET /dlq, POST /dlq/replay, POST /dlq/drain')
  if (pathname === '/dlq/replay') {
    if (!cfg.queueBinding) throw new HttpError(409, 'NO_QUEUE', `replay re-enqueues: bind ${BINDINGS.queue}`)
    const { entries, cursor: next } = await parkedEntries(cfg.kv, { ids, limit, cursor })
    const replayable = entries.filter(({ value }) => isObject(value.body) && value.body.v === MESSAGE_VERSION && isObject(value.body.event))
    const messages = replayable.map(({ value }) => messageFor(value.body.event, value.body.dest))
    await sendToQueue(cfg.queueBinding, messages)
    // Deleted only once re-enqueued: a failure above leaves them parked (at-least-once).
    await Promise.all(replayable.map(({ key }) => cfg.kv.delete(key)))
    log('log', { kind: 'replayed', count: replayable.length })
    return json({ replayed: replayable.length, skipped: entries.length - replayable.length, cursor: next }, 202)
  }
  if (pathname === '/dlq/drain') {
    const { entries, cursor: next } = await parkedEntries(cfg.kv, { ids, limit, cursor })
    await Promise.all(entries.map(({ key }) => cfg.kv.delete(key)))
    log('warn', { kind: 'drained', count: entries.length })
    return json({ deleted: entries.length, cursor: next })
  }
  throw new HttpError(404, 'NOT_FOUND', `no route ${pathname}`)
}
