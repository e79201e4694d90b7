// Local stand-in for tr.snapchat.com used by the Node tests and the demo.
//
//   const mock = await startMockSnap()          // or: const mock = new MockSnap(); await mock.start()
//   mock.url                                    // 'http://127.0.0.1:PORT'
//   mock.requests                               // every request received, in arrival order
//   mock.enqueue({ status: 429, headers: { 'retry-after': '1' } })   // next call (any path)
//   mock.enqueue('/v3/px-123/events', { status: 500 })               // next call on this path
//   mock.setDefault({ status: 200, body: {...} })
//   mock.reset(); await mock.close()
//
// Replies are consumed per path first (exact pathname match, without the query string), then from
// the global queue, then the default. A reply is { status, headers, body, delayMs, destroy }:
// body may be an object (JSON-encoded), a string, or a Buffer; destroy:true drops the socket
// without answering (a network error on the client side).
import http from 'node:http'

// Snap's v3 endpoint answers a good request with a small JSON status object; the validation
// endpoint documents status VALID / INVALID with a reason. We mirror that shape.
export const SNAP_OK_BODY = Object.freeze({ status: 'VALID', reason: '' })
export const snapInvalid = (reason = 'Insufficient PII') => ({ status: 'INVALID', reason })

export class MockSnap {
  constructor({ host = '127.0.0.1', port = 0 } = {}) {
    this.host = host
    this.port = port
    this.server = null
    this.url = null
    this.requests = []
    this.defaultReply = { status: 200, body: SNAP_OK_BODY }
    this.queue = []
    this.pathQueues = new Map()
    this.sockets = new Set()
    this.waiters = []
  }

  setDefault(reply) {
    this.defaultReply = { ...reply }
    return this
  }

  // enqueue(reply...) or enqueue(path, reply...)
  enqueue(...args) {
    if (typeof args[0] === 'string') {
      const [path, ...replies] = args
      if (!this.pathQueues.has(path)) this.pathQueues.set(path, [])
      this.pathQueues.get(path).push(...replies)
    } else {
      this.queue.push(...args)
    }
    return this
  }

  reset() {
    this.requests.length = 0
    this.queue.length = 0
    this.pathQueues.clear()
    this.defaultReply = { status: 200, body: SNAP_OK_BODY }
    return this
  }

  // Resolves once `n` requests in total have been recorded.
  waitForRequests(n, timeoutMs = 10000) {
    if (this.requests.length >= n) return Promise.resolve(this.requests)
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`mock-snap: timed out waiting for ${n} requests (got ${this.requests.length})`)), timeoutMs)
      this.waiters.push({ n, resolve: (v) => { clearTimeout(t); resolve(v) } })
    })
  }

  nextReply(pathname) {
    const pq = this.pathQueues.get(pathname)
    if (pq && pq.length) return pq.shift()
    if (this.queue.length) return this.queue.shift()
    return this.defaultReply
  }

  handle(req, res) {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const raw = Buffer.concat(chunks)
      const rawBody = raw.toString('utf8')
      let json
      let jsonError
      if (rawBody.length) {
        try { json = JSON.parse(rawBody) } catch (e) { jsonError = e.message }
      }
      const u = new URL(req.url, `http://${req.headers.host || this.host}`)
      const record = {
        index: this.requests.length,
        receivedAt: Date.now(),
        method: req.method,
        url: req.url,
        pathname: u.pathname,
        query: Object.fromEntries(u.searchParams),
        headers: { ...req.headers },
        rawBody,
        json,
        jsonError
      }
      this.requests.push(record)
      this.waiters = this.waiters.filter((w) => {
        if (this.requests.length >= w.n) { w.resolve(this.requests); return false }
        return true
      })
      const reply = this.nextReply(u.pathname) || {}
      record.reply = reply
      const answer = () => {
        if (reply.destroy) { req.socket.destroy(); return }
        const status = reply.status ?? 200
        const headers = { ...(reply.headers || {}) }
        let body = reply.body
        if (body === undefined) body = status >= 200 && status < 300 ? SNAP_OK_BODY : snapInvalid(`mock status ${status}`)
        if (!Buffer.isBuffer(body) && typeof body !== 'string') {
          body = JSON.stringify(body)
          if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json'
        }
        res.writeHead(status, headers)
        res.end(body)
      }
      if (reply.delayMs) setTimeout(answer, reply.delayMs)
      else answer()
    })
  }

  start() {
    return new Promise((resolve, reject) => {
      this.server = http.createServer((req, res) => this.handle(req, res))
      this.server.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)) })
      this.server.once('error', reject)
      this.server.listen(this.port, this.host, () => {
        const { port } = this.server.address()
        this.port = port
        this.url = `http://${this.host}:${port}`
        resolve(this)
      })
    })
  }

  close() {
    if (!this.server) return Promise.resolve()
    for (const s of this.sockets) s.destroy()
    const server = this.server
    this.server = null
    return new Promise((resolve) => server.close(() => resolve()))
  }
}

export async function startMockSnap(opts) {
  return new MockSnap(opts).start()
}

// An origin on 127.0.0.1 where nothing listens (bind a port, then release it).
export async function closedPortUrl() {
  const s = http.createServer()
  await new Promise((r) => s.listen(0, '127.0.0.1', r))
  const { port } = s.address()
  await new Promise((r) => s.close(r))
  return `http://127.0.0.1:${port}`
}

// Self-check: `node tests/support/mock-snap.mjs`
if (import.meta.url === `file://${process.argv[1]}`) {
  const m = await startMockSnap()
  m.enqueue('/v3/x/events', { status: 429, headers: { 'retry-after': '1' } })
  const r1 = await fetch(`${m.url}/v3/x/events?access_token=T`, { method: 'POST', body: '{"data":[]}', headers: { 'content-type': 'application/json' } })
  const r2 = await fetch(`${m.url}/v3/x/events?access_token=T`, { method: 'POST', body: '{"data":[]}' })
  console.log(r1.status, r1.headers.get('retry-after'), await r1.text(), '|', r2.status, await r2.text())
  console.log(m.requests.map((r) => [r.method, r.pathname, r.query, r.json]))
  await m.close()
}
