// A Snap stand-in that injects faults, seeded and reproducibly, and keeps the books a
// reliability test needs (what was accepted, what arrived after a 2xx, how many requests were in
// flight at once).
//
//   const target = await startMockSnap()                   // where redirects point
//   const fs = await startFaultServer({ seed: 7, timeoutMs: 800, redirectTo: target.url })
//   fs.url; fs.phase('batch 25, c=8', 8); ...; fs.summary(); await fs.close()
//
// The fault of a request depends only on (seed, the first event_id in its body, how many times
// that batch has arrived before), never on arrival order, so a run is reproducible whatever the
// client's concurrency does.
import http from 'node:http'
import { createHash } from 'node:crypto'
import { SNAP_OK_BODY, snapInvalid } from './mock-snap.mjs'

// Share of attempts that get each fault; the rest (about half) are answered 200 at once.
export const DEFAULT_MIX = Object.freeze({
  'retry-after-seconds': 0.02, // 429, Retry-After: 1
  'retry-after-date': 0.02, // 429, Retry-After: <HTTP date ~1.5 s ahead>
  'http-500': 0.04,
  'http-502': 0.04,
  'http-503': 0.04,
  'http-501': 0.02, // permanent (Segment: 501/505 are not retried)
  'http-400': 0.02, // permanent
  reset: 0.05, // socket destroyed without an answer
  timeout: 0.03, // no answer until long past the client's timeoutMs
  'slow-body': 0.06, // 200 headers at once, then the body in pieces
  'redirect-307': 0.02,
  'redirect-302': 0.02
})

// What the client must report for an event whose last attempt got this fault.
export const EXPECTED = Object.freeze({
  none: { delivered: true, status: 200 },
  'slow-body': { delivered: true, status: 200 },
  'retry-after-seconds': { code: 'HTTP_ERROR', retryable: true, status: 429 },
  'retry-after-date': { code: 'HTTP_ERROR', retryable: true, status: 429 },
  'http-500': { code: 'HTTP_ERROR', retryable: true, status: 500 },
  'http-502': { code: 'HTTP_ERROR', retryable: true, status: 502 },
  'http-503': { code: 'HTTP_ERROR', retryable: true, status: 503 },
  'http-501': { code: 'HTTP_ERROR', retryable: false, status: 501 },
  'http-400': { code: 'HTTP_ERROR', retryable: false, status: 400 },
  reset: { code: 'NETWORK_ERROR', retryable: true, status: null },
  timeout: { code: 'TIMEOUT', retryable: true, status: null },
  // A redirect is never followed (the URL carries the access token): permanent.
  'redirect-307': { code: 'HTTP_ERROR', retryable: false, status: 307 },
  'redirect-302': { code: 'HTTP_ERROR', retryable: false, status: 302 }
})

// Uniform [0, 1) from a string, stable across runs and platforms.
function unit(s) {
  return createHash('sha256').update(s).digest().readUInt32BE(0) / 2 ** 32
}

export class FaultServer {
  constructor({ seed = 1, mix = DEFAULT_MIX, timeoutMs, redirectTo, slowChunks = 6, slowGapMs = 25, holdMs, host = '127.0.0.1' } = {}) {
    if (!timeoutMs) throw new Error('fault-server: timeoutMs (the client\'s) is required')
    this.seed = seed
    this.mix = Object.entries(mix)
    this.timeoutMs = timeoutMs
    // A "timeout" request is held this long, then its socket destroyed (the client should have
    // given up and closed it long before).
    this.holdMs = holdMs ?? timeoutMs + 1500
    // The client's timer starts a little before the request reaches us (same event loop, shared
    // CPU): a held request stops counting as in flight this much before its nominal deadline.
    this.deadlineSlackMs = Math.min(250, timeoutMs / 3)
    this.redirectTo = redirectTo
    this.slowChunks = slowChunks
    this.slowGapMs = slowGapMs
    this.host = host
    this.server = null
    this.sockets = new Set()
    this.timers = new Set()

    this.requests = [] // { index, phase, url, query, headers, eventIds, fault, status, startedAt, endedAt, closedBy }
    this.arrivals = new Map() // batch key -> times seen
    this.acceptedAt = new Map() // event_id -> index of the request whose 2xx accepted it
    this.acceptCount = new Map() // event_id -> number of 2xx answers that included it
    this.seenAfterAccept = [] // { eventId, acceptedBy, request }
    this.active = new Set()
    this.phases = []
    this.current = null
    this.problems = [] // requests we could not read (bad JSON, no events)
  }

  // Starts a new accounting phase (one send() call); in-flight maxima are kept per phase.
  phase(name, concurrency) {
    // maxOpen also counts held requests the client has given up on but not closed.
    this.current = { name, concurrency, maxInFlight: 0, maxOpen: 0, requests: 0 }
    this.phases.push(this.current)
    return this.current
  }

  pickFault(key, n) {
    let u = unit(`${this.seed}|${key}|${n}`)
    for (const [fault, p] of this.mix) {
      if (u < p) return fault
      u -= p
    }
    return 'none'
  }

  // Requests still being served, minus held "timeout" requests the client must have given up on.
  inFlight(now) {
    let n = 0
    for (const r of this.active) {
      if (r.fault === 'timeout' && now >= r.startedAt + this.timeoutMs - this.deadlineSlackMs) continue
      n++
    }
    return n
  }

  later(ms, fn) {
    const t = setTimeout(() => { this.timers.delete(t); fn() }, ms)
    this.timers.add(t)
  }

  handle(req, res) {
    const rec = { index: this.requests.length, phase: this.current?.name, method: req.method, url: req.url, headers: { ...req.headers }, startedAt: Date.now(), endedAt: null, closedBy: null, eventIds: [], fault: null, status: null }
    this.requests.push(rec)
    this.active.add(rec)
    if (this.current) {
      this.current.requests++
      this.current.maxInFlight = Math.max(this.current.maxInFlight, this.inFlight(rec.startedAt))
      this.current.maxOpen = Math.max(this.current.maxOpen, this.active.size)
    }
    let answered = false
    res.on('finish', () => { answered = true })
    res.on('close', () => {
      rec.endedAt = Date.now()
      if (!answered && !rec.closedBy) rec.closedBy = 'client'
      this.active.delete(rec)
    })

    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const u = new URL(req.url, 'http://x')
      rec.query = Object.fromEntries(u.searchParams)
      let body
      try { body = JSON.parse(Buffer.concat(chunks).toString('utf8')) } catch { /* recorded below */ }
      rec.eventIds = Array.isArray(body?.data) ? body.data.map((e) => e?.event_id) : []
      if (!rec.eventIds.length || rec.eventIds.some((id) => typeof id !== 'string')) {
        this.problems.push({ index: rec.index, url: req.url, body: Buffer.concat(chunks).toString('utf8').slice(0, 200) })
      }
      for (const id of rec.eventIds) {
        if (this.acceptedAt.has(id)) this.seenAfterAccept.push({ eventId: id, acceptedBy: this.acceptedAt.get(id), request: rec.index })
      }
      const key = rec.eventIds[0] ?? `#${rec.index}`
      const n = this.arrivals.get(key) ?? 0
      this.arrivals.set(key, n + 1)
      rec.fault = this.pickFault(key, n)
      this.answer(rec, req, res)
    })
  }

  accept(rec) {
    for (const id of rec.eventIds) {
      if (!this.acceptedAt.has(id)) this.acceptedAt.set(id, rec.index)
      this.acceptCount.set(id, (this.acceptCount.get(id) ?? 0) + 1)
    }
  }

  json(res, status, body, headers = {}) {
    res.writeHead(status, { 'content-type': 'application/json', ...headers })
    res.end(JSON.stringify(body))
  }

  answer(rec, req, res) {
    const f = rec.fault
    const status = EXPECTED[f]?.status ?? null
    rec.status = status
    switch (f) {
      case 'none':
        this.accept(rec)
        return this.json(res, 200, SNAP_OK_BODY)
      case 'slow-body': {
        this.accept(rec)
        const text = JSON.stringify(SNAP_OK_BODY).padEnd(this.slowChunks * 16, ' ')
        const size = Math.ceil(text.length / this.slowChunks)
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
        res.flushHeaders()
        let i = 0
        const next = () => {
          if (res.destroyed) return
          const part = text.slice(i * size, (i + 1) * size)
          i++
          if (i >= this.slowChunks) return res.end(part)
          res.write(part)
          this.later(this.slowGapMs, next)
        }
        return this.later(this.slowGapMs, next)
      }
      case 'retry-after-seconds':
        return this.json(res, 429, { status: 'INVALID', reason: 'Rate limit exceeded' }, { 'retry-after': '1' })
      case 'retry-after-date':
        return this.json(res, 429, { status: 'INVALID', reason: 'Rate limit exceeded' }, { 'retry-after': new Date(Date.now() + 1500).toUTCString() })
      case 'http-500':
      case 'http-502':
      case 'http-503':
      case 'http-501':
      case 'http-400':
        return this.json(res, status, snapInvalid(`injected ${status}`))
      case 'reset':
        rec.closedBy = 'server'
        return req.socket.destroy()
      case 'timeout':
        // No answer. The client should abort at its timeoutMs; if it does not, we drop the
        // connection ourselves long after.
        return this.later(this.holdMs, () => {
          if (!res.writableEnded && !res.destroyed) { rec.closedBy = 'server'; req.socket.destroy() }
        })
      case 'redirect-307':
      case 'redirect-302':
        // Same path and query (access token included) on another origin: exactly what a
        // client that follows redirects would leak.
        return this.json(res, status, { status: 'INVALID', reason: 'moved' }, { location: `${this.redirectTo}${req.url}` })
      default:
        throw new Error(`fault-server: unknown fault ${f}`)
    }
  }

  // Requests that carried this event, in arrival order.
  requestsFor() {
    const by = new Map()
    for (const r of this.requests) for (const id of r.eventIds) {
      if (!by.has(id)) by.set(id, [])
      by.get(id).push(r)
    }
    return by
  }

  faultCounts() {
    const c = {}
    for (const r of this.requests) if (r.fault) c[r.fault] = (c[r.fault] ?? 0) + 1
    return c
  }

  start() {
    return new Promise((resolve, reject) => {
      this.server = http.createServer((req, res) => this.handle(req, res))
      // Idle keep-alive sockets must not be closed under the client mid-run: that would be a
      // network error we did not inject.
      this.server.keepAliveTimeout = 120_000
      this.server.headersTimeout = 120_000
      this.server.requestTimeout = 0
      this.server.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)) })
      this.server.once('error', reject)
      this.server.listen(0, this.host, () => {
        this.port = this.server.address().port
        this.url = `http://${this.host}:${this.port}`
        resolve(this)
      })
    })
  }

  close() {
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    if (!this.server) return Promise.resolve()
    for (const s of this.sockets) s.destroy()
    const server = this.server
    this.server = null
    return new Promise((resolve) => server.close(() => resolve()))
  }
}

export async function startFaultServer(opts) {
  return new FaultServer(opts).start()
}
