// Local stand-in for the Snap Marketing API (adsapi.snapchat.com: stats and segments, plus the
// OAuth token endpoint) and Braze's REST API (/segments/data_series), and a webhook receiver,
// for the monitor tests. One server, answers shaped as the public docs show them
// (docs/monitoring.md "What we rely on").
//
//   const m = await startMockMarketing({ snapToken: 'T', brazeKey: 'K' })
//   m.setStats('px-1', '2026-11-29', { conversion_purchases: 70 })
//   m.setSegment('seg-1', { approximate_number_users: 500, status: 'ACTIVE' })
//   m.setBrazeSeries('b-1', [{ time: '2026-11-29', size: 480 }])
//   m.fault('/v1/pixels/px-1/stats', { status: 429, headers: { 'retry-after': '0' } }, { status: 503 })
//   m.requests, m.webhooks (parsed bodies posted to /webhook)
import http from 'node:http'

export class MockMarketing {
  constructor({ snapToken = 'snap-marketing-token', brazeKey = 'braze-rest-key', refreshToken = null, refreshedToken = 'snap-refreshed-token' } = {}) {
    this.snapTokens = new Set([snapToken])
    this.brazeKey = brazeKey
    this.refreshToken = refreshToken
    this.refreshedToken = refreshedToken
    this.reset()
  }

  reset() {
    this.stats = new Map()
    this.segments = new Map()
    this.braze = new Map()
    this.faults = new Map()
    this.requests = []
    this.webhooks = []
    this.webhookReplies = []
    return this
  }

  setStats(entityId, day, stats) {
    this.stats.set(`${entityId}|${day}`, stats)
    return this
  }
  setSegment(id, fields) {
    this.segments.set(id, fields)
    return this
  }
  setBrazeSeries(id, data) {
    this.braze.set(id, data)
    return this
  }
  // Replies served, in order, before the normal answer of a path.
  fault(path, ...replies) {
    if (!this.faults.has(path)) this.faults.set(path, [])
    this.faults.get(path).push(...replies)
    return this
  }
  // Replies for the next webhook posts (default 200).
  webhookReply(...replies) {
    this.webhookReplies.push(...replies)
    return this
  }

  answer(req, u, body) {
    const fault = this.faults.get(u.pathname)?.shift()
    if (fault) return fault
    const bearer = (req.headers.authorization ?? '').replace(/^Bearer /, '')
    if (u.pathname === '/webhook') {
      this.webhooks.push(JSON.parse(body))
      return this.webhookReplies.shift() ?? { status: 200, body: 'ok' }
    }
    if (u.pathname === '/login/oauth2/access_token') {
      const form = new URLSearchParams(body)
      if (req.method !== 'POST' || form.get('grant_type') !== 'refresh_token' || form.get('refresh_token') !== this.refreshToken) {
        return { status: 400, body: { error: 'invalid_grant' } }
      }
      this.snapTokens.add(this.refreshedToken)
      return { status: 200, body: { access_token: this.refreshedToken, token_type: 'Bearer', expires_in: 1800 } }
    }
    let m
    if ((m = u.pathname.match(/^\/v1\/(pixels|adaccounts)\/([^/]+)\/stats$/))) {
      if (!this.snapTokens.has(bearer)) return { status: 401, body: { request_status: 'ERROR', debug_message: 'Unauthorized' } }
      const q = u.searchParams
      if (q.get('granularity') !== 'DAY' || !q.get('fields') || !q.get('start_time') || !q.get('end_time')) {
        return { status: 400, body: { request_status: 'ERROR', debug_message: 'bad stats query' } }
      }
      const id = decodeURIComponent(m[2])
      const day = q.get('start_time').slice(0, 10)
      const seeded = this.stats.get(`${id}|${day}`) ?? {}
      const stats = {}
      for (const f of q.get('fields').split(',')) stats[f] = seeded[f] ?? 0
      const type = m[1] === 'pixels' ? 'PIXEL' : 'AD_ACCOUNT'
      return {
        status: 200,
        body: {
          request_status: 'SUCCESS',
          request_id: 'r1',
          timeseries_stats: [
            {
              sub_request_status: 'SUCCESS',
              timeseries_stat: {
                id,
                type,
                granularity: 'DAY',
                start_time: q.get('start_time'),
                end_time: q.get('end_time'),
                timeseries: [{ start_time: q.get('start_time'), end_time: q.get('end_time'), stats }]
              }
            }
          ]
        }
      }
    }
    if ((m = u.pathname.match(/^\/v1\/segments\/([^/]+)$/))) {
      if (!this.snapTokens.has(bearer)) return { status: 401, body: { request_status: 'ERROR', debug_message: 'Unauthorized' } }
      const seg = this.segments.get(decodeURIComponent(m[1]))
      if (!seg) return { status: 404, body: { request_status: 'ERROR', debug_message: 'not found' } }
      const segment = { id: m[1], name: 'audience', source_type: 'FIRST_PARTY', retention_in_days: 9999, upload_status: 'COMPLETE', ...seg }
      return { status: 200, body: { request_status: 'SUCCESS', request_id: 'r2', segments: [{ sub_request_status: 'SUCCESS', segment }] } }
    }
    if (u.pathname === '/segments/data_series') {
      if (bearer !== this.brazeKey) return { status: 401, body: { message: 'Invalid API key' } }
      const data = this.braze.get(u.searchParams.get('segment_id'))
      if (!data) return { status: 400, body: { message: 'Invalid segment_id' } }
      return { status: 200, body: { message: 'success', data } }
    }
    return { status: 404, body: { message: 'no such route' } }
  }

  handle(req, res) {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      const u = new URL(req.url, 'http://mock')
      this.requests.push({ method: req.method, pathname: u.pathname, query: Object.fromEntries(u.searchParams), headers: { ...req.headers }, body })
      const reply = this.answer(req, u, body)
      const payload = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body ?? {})
      res.writeHead(reply.status, { 'content-type': 'application/json', ...(reply.headers ?? {}) })
      res.end(payload)
    })
  }

  start() {
    return new Promise((resolve, reject) => {
      this.server = http.createServer((req, res) => this.handle(req, res))
      this.server.once('error', reject)
      this.server.listen(0, '127.0.0.1', () => {
        this.url = `http://127.0.0.1:${this.server.address().port}`
        resolve(this)
      })
    })
  }

  close() {
    this.server.closeAllConnections?.()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}

export const startMockMarketing = (opts) => new MockMarketing(opts).start()
