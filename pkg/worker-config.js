// Configuration of the ready-made Worker (pkg/worker.js), read from its bindings once per isolate.
//
//   EDGE_ACTIONS_CONFIG         var (JSON string or a wrangler.toml table): destinations + limits
//   EDGE_ACTIONS_SHARED_SECRET  secret: Segment Webhooks (Actions) "Shared Secret" (X-Signature)
//   EDGE_ACTIONS_API_TOKEN      secret: accepted as `Authorization: Bearer <token>`
//   EDGE_ACTIONS_BASE_URL       var, optional: origin that replaces every API host (tests, proxies)
//   EDGE_ACTIONS_QUEUE          Queue producer, optional: enqueue + 202 instead of inline delivery
//   EDGE_ACTIONS_KV             KV namespace, optional: click ids by anonymousId, parked dead letters,
//                               the monitor's sent record
//
// Secrets never sit in the JSON var (vars are plain text in wrangler.toml and the dashboard): a
// destination names the Worker secret that fills a setting, `"secrets": {"access_token":
// "SNAP_ACCESS_TOKEN"}`, and a secret-looking setting written in the var is a configuration error.

export const BINDINGS = Object.freeze({
  config: 'EDGE_ACTIONS_CONFIG',
  sharedSecret: 'EDGE_ACTIONS_SHARED_SECRET',
  apiToken: 'EDGE_ACTIONS_API_TOKEN',
  baseUrl: 'EDGE_ACTIONS_BASE_URL',
  queue: 'EDGE_ACTIONS_QUEUE',
  kv: 'EDGE_ACTIONS_KV'
})

/** A configuration problem; `setting` names the binding or JSON path at fault. */
export class WorkerConfigError extends Error {
  constructor(setting, message) {
    super(`${setting}: ${message}`)
    this.name = 'WorkerConfigError'
    this.setting = setting
  }
}

// Cloudflare's limits (see docs/worker.md): 6 simultaneous open connections per invocation;
// 50 subrequests per invocation on the free plan (10,000 on paid); queue messages up to 128 KB
// and sendBatch calls up to 256 KB, in KB of 1,000 bytes (workerd / Miniflare refuse a message
// of 128,001), each message carrying about 100 bytes of the queue's own metadata.
export const MAX_CONNECTIONS = 6
export const QUEUE_MESSAGE_MAX_BYTES = 128_000
export const QUEUE_MESSAGE_OVERHEAD_BYTES = 100
export const QUEUE_SEND_BATCH_MAX_MESSAGES = 100
export const QUEUE_SEND_BATCH_MAX_BYTES = 256_000
export const QUEUE_MAX_DELAY_SECONDS = 24 * 60 * 60

const DEFAULTS = Object.freeze({
  inbound: { maxBodyBytes: 1024 * 1024, maxEvents: 500, batchSignature: 'first-event' },
  delivery: { concurrency: MAX_CONNECTIONS, maxAttempts: 2, timeoutMs: 10000, baseDelayMs: 250, maxRetryAfterMs: 5000, subrequests: 50 },
  queue: { deadLetterQueue: 'edge-actions-dlq', retryBaseSeconds: 30, retryMaxSeconds: 3600, parkRejected: false, deadLetterTtlDays: 30 },
  clickIds: { enabled: true, path: '/sc/collect', cookieMaxAgeDays: 390, ttlDays: 37, cookieDomain: null, allowedOrigins: [] }
})

/** Delay before the next try: the API's Retry-After when it gave one, else jittered backoff. */
export function retryDelaySeconds(attempts, retryAfterMs, q, random = Math.random()) {
  if (Number.isFinite(retryAfterMs) && retryAfterMs > 0) return Math.min(QUEUE_MAX_DELAY_SECONDS, Math.ceil(retryAfterMs / 1000))
  const ceiling = Math.min(q.retryMaxSeconds, q.retryBaseSeconds * 2 ** Math.max(0, Math.min(20, attempts - 1)))
  return Math.min(QUEUE_MAX_DELAY_SECONDS, Math.round(ceiling / 2 + random * (ceiling / 2)))
}

const SECRET_LOOKING = /token|secret|password|passwd|api_?key|private_?key|credential/i

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v)

function checkKeys(obj, allowed, at) {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) throw new WorkerConfigError(`${at}.${k}`, `unknown setting (known: ${allowed.join(', ')})`)
  }
}

function number(obj, key, at, min, max, fallback) {
  const v = obj[key]
  if (v === undefined || v === null) return fallback
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new WorkerConfigError(`${at}.${key}`, `must be a number from ${min} to ${max}`)
  }
  return v
}

function bool(obj, key, at, fallback) {
  const v = obj[key]
  if (v === undefined || v === null) return fallback
  if (typeof v !== 'boolean') throw new WorkerConfigError(`${at}.${key}`, 'must be true or false')
  return v
}

function section(raw, key, defaults) {
  const at = `${BINDINGS.config}.${key}`
  const v = raw[key] ?? {}
  if (!isObject(v)) throw new WorkerConfigError(at, 'must be an object')
  checkKeys(v, Object.keys(defaults), at)
  return [v, at]
}

function origin(value, at) {
  let u
  try {
    u = new URL(value)
  } catch {
    throw new WorkerConfigError(at, 'must be an absolute http(s) URL')
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new WorkerConfigError(at, 'must be an http(s) URL')
  return value.replace(/\/+$/, '')
}

function readRawConfig(env) {
  const value = env[BINDINGS.config]
  if (value === undefined || value === null || value === '') {
    throw new WorkerConfigError(BINDINGS.config, 'is not set: add it under [vars] in wrangler.toml (see docs/worker.md)')
  }
  if (isObject(value)) return value
  if (typeof value !== 'string') throw new WorkerConfigError(BINDINGS.config, 'must be a JSON object')
  let parsed
  try {
    parsed = JSON.parse(value)
  } catch (e) {
    throw new WorkerConfigError(BINDINGS.config, `is not valid JSON (${e.message})`)
  }
  if (!isObject(parsed)) throw new WorkerConfigError(BINDINGS.config, 'must be a JSON object')
  return parsed
}

function secretBinding(env, name, at) {
  if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw new WorkerConfigError(at, 'must be the name of a Worker secret (letters, digits, _)')
  }
  const value = env[name]
  if (typeof value !== 'string' || value === '') {
    throw new WorkerConfigError(at, `Worker secret ${name} is not set (wrangler secret put ${name})`)
  }
  return value
}

function readDestination(raw, i, env, baseUrl, createDestination) {
  const at = `${BINDINGS.config}.destinations[${i}]`
  if (!isObject(raw)) throw new WorkerConfigError(at, 'must be an object')
  checkKeys(raw, ['name', 'destination', 'settings', 'secrets', 'subscriptions', 'baseUrl'], at)
  if (typeof raw.destination !== 'string' || !raw.destination) {
    throw new WorkerConfigError(`${at}.destination`, 'is required, e.g. "snap-conversions-api"')
  }
  const name = raw.name ?? raw.destination
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(name)) {
    throw new WorkerConfigError(`${at}.name`, 'must be 1-64 letters, digits, _ . -')
  }
  const settings = raw.settings ?? {}
  if (!isObject(settings)) throw new WorkerConfigError(`${at}.settings`, 'must be an object')
  for (const [k, v] of Object.entries(settings)) {
    if (SECRET_LOOKING.test(k) && v !== undefined && v !== null && v !== '') {
      throw new WorkerConfigError(`${at}.settings.${k}`, `looks like a secret: vars are plain text; store it with \`wrangler secret put\` and reference it as "secrets": {"${k}": "<SECRET_NAME>"}`)
    }
  }
  const secrets = raw.secrets ?? {}
  if (!isObject(secrets)) throw new WorkerConfigError(`${at}.secrets`, 'must be an object of setting -> Worker secret name')
  const merged = { ...settings }
  for (const [k, bindingName] of Object.entries(secrets)) merged[k] = secretBinding(env, bindingName, `${at}.secrets.${k}`)
  const options = { destination: raw.destination, settings: merged }
  if (raw.subscriptions !== undefined) options.subscriptions = raw.subscriptions
  const url = raw.baseUrl ?? baseUrl
  if (url !== undefined) options.baseUrl = origin(url, raw.baseUrl !== undefined ? `${at}.baseUrl` : BINDINGS.baseUrl)
  let destination
  try {
    destination = createDestination(options)
  } catch (e) {
    // EdgeActionsError messages name the field and never carry secret values.
    // Its field is relative to createDestination's options: settings.x, subscriptions[i].y, ...
    let field = e?.field ? `.${e.field}` : ''
    const key = e?.field?.startsWith('settings.') ? e.field.slice('settings.'.length) : undefined
    if (key !== undefined && Object.hasOwn(secrets, key)) field = `.secrets.${key}`
    throw new WorkerConfigError(`${at}${field}`, e?.message ?? String(e))
  }
  // Snap's batch_size (events per API request) bounds the requests a group of events needs.
  const batchSize = Number.isInteger(merged.batch_size) && merged.batch_size > 0 ? merged.batch_size : 1
  return { name, destination, batchSize }
}

/**
 * Reads and validates the Worker's configuration from `env`. Throws WorkerConfigError naming the
 * binding or JSON path at fault; the message never includes a secret's value.
 */
export function loadConfig(env, createDestination) {
  const raw = readRawConfig(env)
  checkKeys(raw, ['destinations', 'inbound', 'delivery', 'queue', 'clickIds', 'monitor'], BINDINGS.config)

  const baseUrlVar = env[BINDINGS.baseUrl]
  const baseUrl = baseUrlVar === undefined || baseUrlVar === '' ? undefined : origin(String(baseUrlVar), BINDINGS.baseUrl)

  if (!Array.isArray(raw.destinations) || raw.destinations.length === 0) {
    throw new WorkerConfigError(`${BINDINGS.config}.destinations`, 'must be a non-empty array of destinations')
  }
  const destinations = raw.destinations.map((d, i) => readDestination(d, i, env, baseUrl, createDestination))
  const seen = new Set()
  for (const [i, d] of destinations.entries()) {
    if (seen.has(d.name)) throw new WorkerConfigError(`${BINDINGS.config}.destinations[${i}].name`, `"${d.name}" is used twice: give each destination a distinct name`)
    seen.add(d.name)
  }

  const [inb, inAt] = section(raw, 'inbound', DEFAULTS.inbound)
  const inbound = {
    maxBodyBytes: number(inb, 'maxBodyBytes', inAt, 1024, 100 * 1024 * 1024, DEFAULTS.inbound.maxBodyBytes),
    maxEvents: number(inb, 'maxEvents', inAt, 1, 100000, DEFAULTS.inbound.maxEvents),
    // 'first-event': also accept Segment's batch signature, which covers only the first event.
    batchSignature: inb.batchSignature ?? DEFAULTS.inbound.batchSignature
  }
  if (!['first-event', 'whole-body'].includes(inbound.batchSignature)) {
    throw new WorkerConfigError(`${inAt}.batchSignature`, 'must be "first-event" (what Segment sends) or "whole-body"')
  }

  const [del, delAt] = section(raw, 'delivery', DEFAULTS.delivery)
  const dd = DEFAULTS.delivery
  const delivery = {
    // Never more than the 6 connections a Worker invocation may hold open at once.
    concurrency: number(del, 'concurrency', delAt, 1, MAX_CONNECTIONS, dd.concurrency),
    maxAttempts: number(del, 'maxAttempts', delAt, 1, 10, dd.maxAttempts),
    timeoutMs: number(del, 'timeoutMs', delAt, 100, 300000, dd.timeoutMs),
    baseDelayMs: number(del, 'baseDelayMs', delAt, 0, 60000, dd.baseDelayMs),
    maxRetryAfterMs: number(del, 'maxRetryAfterMs', delAt, 0, 60000, dd.maxRetryAfterMs),
    subrequests: number(del, 'subrequests', delAt, 1, 10000, dd.subrequests)
  }

  const [q, qAt] = section(raw, 'queue', DEFAULTS.queue)
  const dq = DEFAULTS.queue
  const queue = {
    deadLetterQueue: q.deadLetterQueue ?? dq.deadLetterQueue,
    retryBaseSeconds: number(q, 'retryBaseSeconds', qAt, 0, QUEUE_MAX_DELAY_SECONDS, dq.retryBaseSeconds),
    retryMaxSeconds: number(q, 'retryMaxSeconds', qAt, 0, QUEUE_MAX_DELAY_SECONDS, dq.retryMaxSeconds),
    parkRejected: bool(q, 'parkRejected', qAt, dq.parkRejected),
    deadLetterTtlDays: number(q, 'deadLetterTtlDays', qAt, 1, 365, dq.deadLetterTtlDays)
  }
  if (typeof queue.deadLetterQueue !== 'string' || !queue.deadLetterQueue) {
    throw new WorkerConfigError(`${qAt}.deadLetterQueue`, 'must be the dead-letter queue name from wrangler.toml')
  }

  const [c, cAt] = section(raw, 'clickIds', DEFAULTS.clickIds)
  const dc = DEFAULTS.clickIds
  const clickIds = {
    enabled: bool(c, 'enabled', cAt, dc.enabled),
    path: c.path ?? dc.path,
    cookieMaxAgeDays: number(c, 'cookieMaxAgeDays', cAt, 1, 400, dc.cookieMaxAgeDays),
    ttlDays: number(c, 'ttlDays', cAt, 1, 400, dc.ttlDays),
    cookieDomain: c.cookieDomain ?? dc.cookieDomain,
    allowedOrigins: c.allowedOrigins ?? dc.allowedOrigins
  }
  if (typeof clickIds.path !== 'string' || !clickIds.path.startsWith('/')) throw new WorkerConfigError(`${cAt}.path`, 'must be a path starting with /')
  if (clickIds.cookieDomain !== null && (typeof clickIds.cookieDomain !== 'string' || !/^[A-Za-z0-9.-]+$/.test(clickIds.cookieDomain))) {
    throw new WorkerConfigError(`${cAt}.cookieDomain`, 'must be a domain such as "example.com"')
  }
  if (!Array.isArray(clickIds.allowedOrigins) || clickIds.allowedOrigins.some((o) => typeof o !== 'string')) {
    throw new WorkerConfigError(`${cAt}.allowedOrigins`, 'must be an array of origins such as "https://shop.example.com"')
  }

  const sharedSecret = env[BINDINGS.sharedSecret] || undefined
  const apiToken = env[BINDINGS.apiToken] || undefined
  if (!sharedSecret && !apiToken) {
    throw new WorkerConfigError(BINDINGS.sharedSecret, `no inbound credential: set it (wrangler secret put ${BINDINGS.sharedSecret}, the Shared Secret of Segment's Webhooks (Actions) destination) and/or ${BINDINGS.apiToken} (a Bearer token)`)
  }
  for (const [binding, v] of [[BINDINGS.sharedSecret, sharedSecret], [BINDINGS.apiToken, apiToken]]) {
    if (v !== undefined && (typeof v !== 'string' || v.length < 16)) {
      throw new WorkerConfigError(binding, 'must be a secret string of at least 16 characters')
    }
  }

  const q2 = env[BINDINGS.queue]
  if (q2 !== undefined && (typeof q2?.send !== 'function' || typeof q2?.sendBatch !== 'function')) {
    throw new WorkerConfigError(BINDINGS.queue, 'must be a Queue producer binding ([[queues.producers]] in wrangler.toml)')
  }
  const kv = env[BINDINGS.kv]
  if (kv !== undefined && (typeof kv?.get !== 'function' || typeof kv?.put !== 'function')) {
    throw new WorkerConfigError(BINDINGS.kv, 'must be a KV namespace binding ([[kv_namespaces]] in wrangler.toml)')
  }

  const monitor = readMonitor(raw.monitor, kv, baseUrl)

  return {
    destinations,
    monitor,
    byName: new Map(destinations.map((d) => [d.name, d])),
    inbound,
    delivery,
    queue,
    clickIds,
    auth: { sharedSecret, apiToken, batchSignature: inbound.batchSignature },
    queueBinding: q2,
    kv
  }
}

// The monitor (docs/monitoring.md): the checks are validated by the core when a run starts; here
// only what the Worker needs. Credentials are Worker secrets named in `secrets` and read when
// the cron run starts, so a missing one fails the run, never event delivery.
const MONITOR_SECRETS = ['snapAccessToken', 'snapRefreshToken', 'snapClientId', 'snapClientSecret', 'brazeApiKey', 'webhook']
function readMonitor(raw, kv, baseUrl) {
  if (raw === undefined || raw === null) return null
  const at = `${BINDINGS.config}.monitor`
  if (!isObject(raw)) throw new WorkerConfigError(at, 'must be an object')
  checkKeys(raw, ['record', 'conversions', 'audiences', 'thresholds', 'retry', 'snap', 'braze', 'secrets'], at)
  const record = bool(raw, 'record', at, true)
  if (!kv) throw new WorkerConfigError(at, `needs the ${BINDINGS.kv} KV namespace for the record of what was sent ([[kv_namespaces]] in wrangler.toml)`)
  for (const key of ['snap', 'braze']) {
    const sec = raw[key] ?? {}
    if (!isObject(sec)) throw new WorkerConfigError(`${at}.${key}`, 'must be an object')
    checkKeys(sec, key === 'snap' ? ['baseUrl', 'tokenUrl'] : ['baseUrl'], `${at}.${key}`)
  }
  const secrets = raw.secrets ?? {}
  if (!isObject(secrets)) throw new WorkerConfigError(`${at}.secrets`, 'must be an object of credential -> Worker secret name')
  checkKeys(secrets, MONITOR_SECRETS, `${at}.secrets`)
  for (const [k, v] of Object.entries(secrets)) {
    if (typeof v !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(v)) throw new WorkerConfigError(`${at}.secrets.${k}`, 'must be the name of a Worker secret')
  }
  const { record: _r, secrets: _s, ...config } = raw
  // EDGE_ACTIONS_BASE_URL replaces every API host, the Marketing API's too.
  if (baseUrl !== undefined) config.snap = { baseUrl, tokenUrl: `${baseUrl}/login/oauth2/access_token`, ...config.snap }
  return { record, config, secrets }
}
