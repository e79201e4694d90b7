// Local stand-ins for the Snap Marketing API (Custom Audiences, lookalikes, OAuth token
// endpoint) and Braze (partner cohorts, /users/track), with state, so tests check what the
// audience ends up holding, not only what was sent.
//
//   const mock = await startMockAudiences()
//   mock.url                                 // 'http://127.0.0.1:PORT' (baseUrl for both)
//   mock.snapMembers('555')                  // Set of hashes in Snap segment 555
//   mock.cohort('aud_1')                     // Set of 'user:ID' / 'device:ID' / 'alias:NAME:LABEL'
//   mock.attributes.get('user-1')            // Braze custom attributes of a user
//   mock.fault('/v1/segments/555/users', { status: 429, headers: { 'retry-after': '0' } })
//   mock.expireToken()                       // the current Snap access token now gets 401
//   mock.revokeRefreshToken()                // the refresh token is refused (400 invalid_grant)
//
// Checks requests the way the APIs do: Snap bearer token, one schema per call, 64-hex SHA-256
// ids, at most 100,000 per call; Braze client secret in the body, at most 1,000 ids per cohort
// call and 75 objects per /users/track call. A faulty request gets a 400 with the reason.
import http from 'node:http'

export const SNAP_REFRESH_TOKEN = 'snap-refresh-SECRET'
export const SNAP_CLIENT_SECRET = 'snap-client-SECRET'
export const BRAZE_CLIENT_SECRET = 'braze-client-SECRET'
export const BRAZE_API_KEY = 'braze-rest-SECRET'
const SCHEMAS = ['EMAIL_SHA256', 'PHONE_SHA256', 'MOBILE_AD_ID_SHA256']
const HEX64 = /^[0-9a-f]{64}$/

export class MockAudiences {
  constructor() {
    this.requests = []
    this.faults = new Map()
    this.segments = new Map() // id -> { spec, members: Set }
    this.cohorts = new Map() // cohort_id -> { name, members: Set }
    this.attributes = new Map()
    this.tokens = new Set(['snap-access-1'])
    this.tokenSerial = 1
    this.refreshRevoked = false
    this.segmentSerial = 0
  }

  get accessToken() {
    return `snap-access-${this.tokenSerial}`
  }

  expireToken() {
    this.tokens.clear()
  }

  revokeRefreshToken() {
    this.refreshRevoked = true
  }

  fault(path, ...replies) {
    if (!this.faults.has(path)) this.faults.set(path, [])
    this.faults.get(path).push(...replies)
  }

  snapMembers(id) {
    return this.segments.get(id)?.members ?? new Set()
  }

  cohort(id) {
    return this.cohorts.get(id)?.members ?? new Set()
  }

  async start() {
    this.server = http.createServer((req, res) => {
      let raw = ''
      req.on('data', (c) => (raw += c))
      req.on('end', () => {
        const url = new URL(req.url, 'http://x')
        this.requests.push({ method: req.method, path: url.pathname, headers: req.headers, raw })
        const reply = (status, body, headers = {}) => {
          res.writeHead(status, { 'content-type': 'application/json', ...headers })
          res.end(JSON.stringify(body))
        }
        const queued = this.faults.get(url.pathname)
        if (queued?.length) {
          const f = queued.shift()
          return reply(f.status, f.body ?? { message: `injected ${f.status}` }, f.headers)
        }
        try {
          this.route(req.method, url.pathname, req.headers, raw, reply)
        } catch (e) {
          reply(400, { message: `mock: ${e.message}` })
        }
      })
    })
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.url = `http://127.0.0.1:${this.server.address().port}`
    return this
  }

  async close() {
    this.server.closeAllConnections?.()
    await new Promise((resolve) => this.server.close(resolve))
  }

  route(method, path, headers, raw, reply) {
    if (path === '/login/oauth2/access_token' && method === 'POST') {
      const form = new URLSearchParams(raw)
      if (headers['content-type'] !== 'application/x-www-form-urlencoded') return reply(400, { error: 'invalid_request' })
      if (this.refreshRevoked || form.get('refresh_token') !== SNAP_REFRESH_TOKEN || form.get('client_secret') !== SNAP_CLIENT_SECRET || form.get('grant_type') !== 'refresh_token') {
        return reply(400, { error: 'invalid_grant', error_description: 'Invalid refresh token' })
      }
      this.tokenSerial++
      this.tokens.add(this.accessToken)
      return reply(200, { access_token: this.accessToken, token_type: 'Bearer', expires_in: 1800, refresh_token: SNAP_REFRESH_TOKEN })
    }
    if (path.startsWith('/v1/')) {
      const token = String(headers.authorization ?? '').replace(/^Bearer /, '')
      if (!this.tokens.has(token)) return reply(401, { request_status: 'ERROR', debug_message: 'Unauthorized' })
      const users = path.match(/^\/v1\/segments\/([^/]+)\/users$/)
      if (users && (method === 'POST' || method === 'DELETE')) return this.snapUsers(decodeURIComponent(users[1]), method, JSON.parse(raw), reply)
      const create = path.match(/^\/v1\/adaccounts\/([^/]+)\/segments$/)
      if (create && method === 'GET') {
        const list = [...this.segments.entries()].filter(([, s]) => s.spec?.ad_account_id === create[1])
        return reply(200, { request_status: 'SUCCESS', segments: list.map(([id, s]) => ({ sub_request_status: 'SUCCESS', segment: { ...s.spec, id } })) })
      }
      if (create && method === 'POST') {
        const out = JSON.parse(raw).segments.map((s) => {
          if (s.ad_account_id !== create[1]) throw new Error('ad_account_id differs from the path')
          if (s.source_type === 'LOOKALIKE') {
            const spec = s.creation_spec
            if (!this.segments.has(spec?.seed_segment_id)) throw new Error('unknown seed segment')
            if (!['BALANCE', 'SIMILARITY', 'REACH'].includes(spec.type) || !Array.isArray(spec.countries) || spec.countries.length === 0) throw new Error('bad creation_spec')
            if (!(s.retention_in_days <= 180)) throw new Error('lookalike retention over 180 days')
          }
          const id = `seg-${++this.segmentSerial}`
          this.segments.set(id, { spec: s, members: new Set() })
          return { sub_request_status: 'SUCCESS', segment: { ...s, id, status: 'PENDING' } }
        })
        return reply(200, { request_status: 'SUCCESS', segments: out })
      }
    }
    if (path.startsWith('/partners/segment/cohorts') && method === 'POST') {
      const body = JSON.parse(raw)
      if (body.client_secret !== BRAZE_CLIENT_SECRET) return reply(401, { message: 'Invalid client secret' })
      if (path === '/partners/segment/cohorts') {
        if (!body.cohort_id || !body.name) throw new Error('cohort_id and name are required')
        if (!this.cohorts.has(body.cohort_id)) this.cohorts.set(body.cohort_id, { name: body.name, members: new Set() })
        return reply(201, { message: 'success' })
      }
      const cohort = this.cohorts.get(body.cohort_id)
      if (!cohort) return reply(404, { message: 'cohort not found' })
      let ids = 0
      for (const c of body.cohort_changes) {
        const keys = [...(c.user_ids ?? []).map((u) => `user:${u}`), ...(c.device_ids ?? []).map((d) => `device:${d}`), ...(c.aliases ?? []).map((a) => `alias:${a.alias_name}:${a.alias_label}`)]
        ids += keys.length
        for (const k of keys) c.should_remove ? cohort.members.delete(k) : cohort.members.add(k)
      }
      if (ids > 1000) throw new Error('more than 1,000 ids')
      return reply(201, { message: 'success' })
    }
    if (path === '/users/track' && method === 'POST') {
      if (headers.authorization !== `Bearer ${BRAZE_API_KEY}`) return reply(401, { message: 'Invalid API key' })
      const body = JSON.parse(raw)
      if ((body.attributes?.length ?? 0) > 75) throw new Error('more than 75 attributes')
      for (const a of body.attributes ?? []) {
        const { external_id: id, ...rest } = a
        this.attributes.set(id, { ...this.attributes.get(id), ...rest })
      }
      return reply(201, { message: 'success', attributes_processed: body.attributes?.length ?? 0 })
    }
    reply(404, { message: `mock: no route ${method} ${path}` })
  }

  snapUsers(id, method, body, reply) {
    const u = body.users
    if (!Array.isArray(u) || u.length !== 1) throw new Error('users must hold exactly one schema entry')
    const [entry] = u
    if (entry.schema?.length !== 1 || !SCHEMAS.includes(entry.schema[0])) throw new Error('bad schema')
    if (entry.data.length > 100000) throw new Error('more than 100,000 identifiers')
    if (!this.segments.has(id)) this.segments.set(id, { spec: null, members: new Set() })
    const members = this.segments.get(id).members
    for (const row of entry.data) {
      if (!Array.isArray(row) || row.length !== 1 || !HEX64.test(row[0])) throw new Error('identifiers must be lower-case SHA-256 hex')
      const k = `${entry.schema[0]}:${row[0]}`
      method === 'POST' ? members.add(k) : members.delete(k)
    }
    reply(200, { request_status: 'SUCCESS', users: [{ sub_request_status: 'SUCCESS', user: { number_uploaded_users: entry.data.length } }] })
  }
}

export async function startMockAudiences() {
  return new MockAudiences().start()
}
