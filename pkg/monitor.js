// Monitoring I/O (issue 11): record stores, the reads from the Snap Marketing API and Braze,
// and the webhook. Every decision (what to read, how to compare, alert lines, the Slack
// payload) is in the core (src/monitor.rs, `monitor` of the package API). Runtime-neutral: no
// Node modules here (the file store is in pkg/monitor-file.js). Design: docs/monitoring.md.

export const SNAP_ADS_ORIGIN = 'https://adsapi.snapchat.com'
export const SNAP_TOKEN_URL = 'https://accounts.snapchat.com/login/oauth2/access_token'

const RETRY_DEFAULTS = Object.freeze({ maxAttempts: 4, baseDelayMs: 500, maxDelayMs: 8000, maxRetryAfterMs: 30000, timeoutMs: 15000 })

/** A read or the webhook failed; `permanent` when retrying cannot help (401, other 4xx). */
export class MonitorFetchError extends Error {
  constructor(message, { status = null, permanent = false } = {}) {
    super(message)
    this.name = 'MonitorFetchError'
    this.status = status
    this.permanent = permanent
  }
}

/** The UTC day before `ms` as YYYY-MM-DD: a finished day, the default for a run. */
export function previousDay(ms = Date.now()) {
  return new Date(ms - 86400000).toISOString().slice(0, 10)
}

// Segment's retry rule (as in delivery): 5xx except 501 / 505, and 408, 410, 429, 460.
const retryable = (s) => (s >= 500 && s <= 599 && s !== 501 && s !== 505) || [408, 410, 429, 460].includes(s)

function retryAfterMs(value, now = Date.now()) {
  if (!value) return null
  const secs = Number(value)
  if (Number.isFinite(secs) && secs >= 0) return secs * 1000
  const at = Date.parse(value)
  return Number.isFinite(at) ? Math.max(0, at - now) : null
}

const defaultSleep = (ms) => new Promise((r) => setTimeout(r, ms))

/**
 * fetch with bounded retries on 429 / 5xx / network errors (Retry-After honoured up to a cap,
 * else jittered exponential backoff); redirects are never followed (the request carries a
 * credential). Error messages name `what` and the status only: never the URL's query, headers
 * or body.
 */
export async function fetchWithRetry(what, url, init, { fetch: fetchImpl = globalThis.fetch, sleep = defaultSleep, random = Math.random, retry = {} } = {}) {
  const r = { ...RETRY_DEFAULTS, ...retry }
  let last = null
  for (let attempt = 1; attempt <= r.maxAttempts; attempt++) {
    let res = null
    try {
      res = await fetchImpl(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(r.timeoutMs) })
    } catch (e) {
      last = new MonitorFetchError(`${what}: ${e?.name === 'TimeoutError' ? `no answer within ${r.timeoutMs} ms` : 'network error'}`)
    }
    if (res) {
      if (res.status >= 200 && res.status < 300) return res
      // Drain the body so the connection can be reused; its content is not reported.
      await res.arrayBuffer().catch(() => {})
      if (res.status === 401) {
        throw new MonitorFetchError(`${what}: HTTP 401, the credentials were rejected (refresh or replace the token)`, { status: 401, permanent: true })
      }
      if (!retryable(res.status)) throw new MonitorFetchError(`${what}: HTTP ${res.status}`, { status: res.status, permanent: true })
      last = new MonitorFetchError(`${what}: HTTP ${res.status}`, { status: res.status })
      const wait = retryAfterMs(res.headers.get('retry-after'))
      if (wait !== null && wait > r.maxRetryAfterMs) {
        throw new MonitorFetchError(`${what}: HTTP ${res.status} with Retry-After ${Math.ceil(wait / 1000)} s, longer than the ${r.maxRetryAfterMs / 1000} s a run waits`, { status: res.status })
      }
      if (attempt < r.maxAttempts) {
        await sleep(wait ?? backoff(attempt, r, random))
        continue
      }
    } else if (attempt < r.maxAttempts) {
      await sleep(backoff(attempt, r, random))
      continue
    }
  }
  throw new MonitorFetchError(`${last.message} (gave up after retries)`, { status: last.status })
}

/** `retry` of the configuration, checked: a typo fails the run instead of retrying oddly. */
export function retryOptions(retry) {
  if (retry === undefined || retry === null) return {}
  if (typeof retry !== 'object' || Array.isArray(retry)) throw new TypeError('retry must be an object')
  const limits = { maxAttempts: [1, 20], baseDelayMs: [0, 60000], maxDelayMs: [0, 600000], maxRetryAfterMs: [0, 600000], timeoutMs: [1, 600000] }
  for (const [k, v] of Object.entries(retry)) {
    const range = limits[k]
    if (!range) throw new TypeError(`retry.${k}: unknown setting (known: ${Object.keys(limits).join(', ')})`)
    if (typeof v !== 'number' || !Number.isFinite(v) || v < range[0] || v > range[1]) throw new TypeError(`retry.${k} must be a number from ${range[0]} to ${range[1]}`)
  }
  return retry
}

function backoff(attempt, r, random) {
  const ceiling = Math.min(r.maxDelayMs, r.baseDelayMs * 2 ** (attempt - 1))
  return ceiling / 2 + random() * (ceiling / 2)
}

async function getJson(what, url, headers, io) {
  const res = await fetchWithRetry(what, url, { method: 'GET', headers: { accept: 'application/json', ...headers } }, io)
  try {
    return await res.json()
  } catch {
    throw new MonitorFetchError(`${what}: the answer is not JSON`, { permanent: true })
  }
}

/**
 * Snap Marketing API access: a fixed access token, or one refreshed from a refresh token (Snap's
 * access tokens last about an hour). A 401 with refresh credentials refreshes once and retries.
 */
export function snapAuth({ accessToken, refreshToken, clientId, clientSecret, tokenUrl = SNAP_TOKEN_URL } = {}) {
  let token = accessToken || null
  const canRefresh = Boolean(refreshToken && clientId && clientSecret)
  return {
    canRefresh,
    async header(io, force = false) {
      if ((force || !token) && canRefresh) {
        const body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId, client_secret: clientSecret })
        const res = await fetchWithRetry('Snap token refresh', tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body }, io)
        const j = await res.json().catch(() => null)
        if (typeof j?.access_token !== 'string' || !j.access_token) throw new MonitorFetchError('Snap token refresh: no access_token in the answer', { permanent: true })
        token = j.access_token
      }
      if (!token) throw new MonitorFetchError('Snap Marketing API: no access token configured', { permanent: true })
      return { authorization: `Bearer ${token}` }
    }
  }
}

async function snapGet(path, auth, origin, io) {
  const url = origin.replace(/\/$/, '') + path
  try {
    return await getJson('Snap Marketing API', url, await auth.header(io), io)
  } catch (e) {
    if (e instanceof MonitorFetchError && e.status === 401 && auth.canRefresh) return getJson('Snap Marketing API', url, await auth.header(io, true), io)
    throw e
  }
}

/**
 * One monitor run for `day`: load the record, read what the plan lists, compare, and post the
 * webhook when something is wrong. Returns the core's report plus `webhookPosted` /
 * `webhookError`.
 *
 *   core        the package's `monitor` (plan / evaluate)
 *   config      the monitor configuration (docs/monitoring.md)
 *   store       a record store ({ load() })
 *   credentials { snap: { accessToken | refreshToken + clientId + clientSecret }, braze: { apiKey } }
 *   webhook     URL of a Slack-compatible incoming webhook (a secret: never logged)
 */
export async function runMonitor({ core, config, store, day, credentials = {}, webhook, fetch: fetchImpl = globalThis.fetch, sleep, random }) {
  const io = { fetch: fetchImpl, sleep, random, retry: retryOptions(config.retry) }
  const record = (await store.load()) ?? null
  const reads = core.plan(config, record, day)
  const snap = snapAuth({ ...credentials.snap, tokenUrl: config.snap?.tokenUrl ?? credentials.snap?.tokenUrl })
  const responses = {}
  for (const read of reads) {
    try {
      if (read.api === 'snap') {
        responses[read.id] = { body: await snapGet(read.path, snap, config.snap?.baseUrl ?? SNAP_ADS_ORIGIN, io) }
      } else {
        const origin = config.braze?.baseUrl
        if (!origin) throw new MonitorFetchError('Braze: braze.baseUrl (your REST endpoint, e.g. https://rest.iad-01.braze.com) is not configured', { permanent: true })
        if (!credentials.braze?.apiKey) throw new MonitorFetchError('Braze: no API key configured', { permanent: true })
        responses[read.id] = { body: await getJson('Braze', origin.replace(/\/$/, '') + read.path, { authorization: `Bearer ${credentials.braze.apiKey}` }, io) }
      }
    } catch (e) {
      responses[read.id] = { error: e instanceof MonitorFetchError ? e.message : `${read.api}: ${e?.name ?? 'error'}` }
    }
  }
  const report = core.evaluate(config, record, day, responses)
  report.webhookPosted = false
  if (webhook && report.webhook) {
    try {
      await fetchWithRetry('webhook', webhook, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(report.webhook) }, io)
      report.webhookPosted = true
    } catch (e) {
      report.webhookError = e instanceof MonitorFetchError ? e.message : 'webhook: error'
    }
  }
  return report
}

// ---------------------------------------------------------------------------------------------
// Record stores: { load(): Promise<record | null>, add(record): Promise<void> }.

/** In memory (tests, one-off runs). */
export class MemoryRecordStore {
  constructor(core, record = null) {
    this.core = core
    this.record = record
  }
  async load() {
    return this.record
  }
  async add(record) {
    if (!record?.entries?.length) return
    this.record = this.core.mergeRecords([this.record, record])
  }
}

/**
 * Cloudflare KV. Concurrent queue consumers must not overwrite each other's counts (KV is
 * last-writer-wins), so each `add` writes its own part key; a small part travels in the key's
 * metadata so `load` reads it with the listing, without a get per part (subrequests are
 * limited). `load` folds parts into one compacted key once there are `compactAfter` of them; the
 * compacted value lists the parts it holds, so a part whose delete failed is not counted twice.
 */
export class KvRecordStore {
  constructor(core, kv, { prefix = 'monitor:sent:', compactAfter = 50 } = {}) {
    this.core = core
    this.kv = kv
    this.prefix = prefix
    this.compactAfter = compactAfter
  }

  async add(record) {
    if (!record?.entries?.length) return
    const value = JSON.stringify(record)
    const key = `${this.prefix}part:${new Date().toISOString()}:${crypto.randomUUID()}`
    // KV metadata is at most 1024 bytes.
    const metadata = value.length <= 1000 ? { r: value } : undefined
    await this.kv.put(key, value, metadata ? { metadata } : {})
  }

  async load() {
    const compactKey = `${this.prefix}compact`
    const compact = (await this.kv.get(compactKey, 'json')) ?? { record: null, parts: [] }
    const held = new Set(compact.parts ?? [])
    const parts = []
    let cursor
    do {
      const page = await this.kv.list({ prefix: `${this.prefix}part:`, cursor })
      parts.push(...page.keys)
      cursor = page.list_complete ? undefined : page.cursor
    } while (cursor)
    const fresh = parts.filter((k) => !held.has(k.name))
    const records = [compact.record]
    for (const k of fresh) {
      const text = k.metadata?.r ?? (await this.kv.get(k.name))
      if (text) records.push(JSON.parse(text))
    }
    const record = this.core.mergeRecords(records)
    if (fresh.length >= this.compactAfter) {
      const listed = new Set(parts.map((k) => k.name))
      const nowHeld = [...[...held].filter((n) => listed.has(n)), ...fresh.map((k) => k.name)]
      await this.kv.put(compactKey, JSON.stringify({ record, parts: nowHeld }))
      // Best effort: a part left behind is skipped while the compacted value lists it.
      await Promise.allSettled(nowHeld.map((n) => this.kv.delete(n)))
    }
    return record
  }
}
