// Inbound side of the ready-made Worker: bounded body reading, authentication (Segment's
// X-Signature or a Bearer token, checked before the body is parsed, in constant time through
// WebCrypto) and the accepted event shapes.

/** An error answered with `status` and a JSON `{ error: { code, message } }` body. */
export class HttpError extends Error {
  constructor(status, code, message, headers = {}) {
    super(message)
    this.status = status
    this.code = code
    this.headers = headers
  }
}

/** The body as bytes, at most `max` of them (413 otherwise, without buffering the excess). */
export async function readBody(request, max) {
  const tooLarge = () => new HttpError(413, 'BODY_TOO_LARGE', `request body is larger than ${max} bytes (inbound.maxBodyBytes)`)
  const declared = Number(request.headers.get('content-length'))
  if (Number.isFinite(declared) && declared > max) throw tooLarge()
  if (!request.body) return new Uint8Array(0)
  const reader = request.body.getReader()
  const chunks = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > max) {
      await reader.cancel().catch(() => {})
      throw tooLarge()
    }
    chunks.push(value)
  }
  const out = new Uint8Array(size)
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.byteLength
  }
  return out
}

const encoder = new TextEncoder()

function hexToBytes(hex) {
  if (typeof hex !== 'string' || hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(hex)) return null
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16)
  return out
}

// Where the first element of a top-level JSON array ends (exclusive), found without parsing it:
// Segment's Webhooks (Actions) destination signs only JSON.stringify(batch[0]) of a batch.
function firstArrayElement(bytes) {
  let i = 0
  const ws = (b) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09
  while (i < bytes.length && ws(bytes[i])) i++
  if (bytes[i] !== 0x5b /* [ */) return null
  i++
  while (i < bytes.length && ws(bytes[i])) i++
  const start = i
  let depth = 0
  let inString = false
  for (; i < bytes.length; i++) {
    const b = bytes[i]
    if (inString) {
      if (b === 0x5c /* \ */) i++
      else if (b === 0x22 /* " */) inString = false
    } else if (b === 0x22) inString = true
    else if (b === 0x7b || b === 0x5b) depth++
    else if (b === 0x7d || b === 0x5d) {
      if (depth === 0) break
      depth--
    } else if (b === 0x2c /* , */ && depth === 0) break
  }
  let end = i
  while (end > start && ws(bytes[end - 1])) end--
  return end > start ? bytes.subarray(start, end) : null
}

/**
 * Builds the request authenticator for one configuration. Keys are imported once; every check
 * is a WebCrypto verify (constant time in the implementation), never a string comparison.
 */
export function makeAuthenticator({ sharedSecret, apiToken, batchSignature = 'first-event' }) {
  const hmacSha1 = sharedSecret
    ? crypto.subtle.importKey('raw', encoder.encode(sharedSecret), { name: 'HMAC', hash: 'SHA-1' }, false, ['verify'])
    : null
  // The token is compared as HMAC(random per-isolate key, token): verify() then compares MACs in
  // constant time whatever the presented token's length.
  const token = apiToken
    ? (async () => {
        const key = await crypto.subtle.generateKey({ name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify'])
        return { key, mac: await crypto.subtle.sign('HMAC', key, encoder.encode(apiToken)) }
      })()
    : null

  return async function authenticate(request, bodyBytes) {
    const authz = request.headers.get('authorization')
    if (token && authz) {
      const m = /^Bearer\s+(.+)$/i.exec(authz.trim())
      if (m) {
        const { key, mac } = await token
        if (await crypto.subtle.verify('HMAC', key, mac, encoder.encode(m[1]))) return 'bearer'
      }
    }
    const sig = request.headers.get('x-signature')
    if (hmacSha1 && sig) {
      const sigBytes = hexToBytes(sig.trim())
      if (sigBytes && sigBytes.length === 20) {
        const key = await hmacSha1
        if (await crypto.subtle.verify('HMAC', key, sigBytes, bodyBytes)) return 'signature'
        // A Segment batch: the signature covers the first event only (see docs/worker.md).
        const first = batchSignature === 'first-event' ? firstArrayElement(bodyBytes) : null
        if (first && (await crypto.subtle.verify('HMAC', key, sigBytes, first))) return 'signature-first-event'
      }
    }
    const accepted = [hmacSha1 && 'X-Signature (hex HMAC-SHA1 of the body under the shared secret)', token && 'Authorization: Bearer <token>']
    throw new HttpError(401, 'UNAUTHORIZED', `missing or invalid credentials; send ${accepted.filter(Boolean).join(' or ')}`, {
      'www-authenticate': 'Bearer'
    })
  }
}

/** Parses an authenticated body: raw bytes -> JSON (400 with a clear message when it is not). */
export function parseJson(bytes) {
  let text
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    throw new HttpError(400, 'MALFORMED_BODY', 'request body is not valid UTF-8')
  }
  if (text.trim() === '') throw new HttpError(400, 'MALFORMED_BODY', 'request body is empty; send a Segment event, an array of events or {"batch": [...]}')
  try {
    return JSON.parse(text)
  } catch (e) {
    throw new HttpError(400, 'MALFORMED_BODY', `request body is not valid JSON (${e.message})`)
  }
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v)

/**
 * The events in a body: one event (Webhooks (Actions), single), an array (Webhooks (Actions)
 * batch), or Segment's HTTP API batch `{ batch: [...], context?, integrations? }` whose top-level
 * context / integrations apply to events that do not carry their own.
 */
export function eventsOf(body, maxEvents) {
  let events
  if (Array.isArray(body)) events = body
  else if (isObject(body) && Array.isArray(body.batch)) {
    const shared = {}
    if (isObject(body.context)) shared.context = body.context
    if (isObject(body.integrations)) shared.integrations = body.integrations
    events = body.batch.map((e) => (isObject(e) ? { ...shared, ...e } : e))
  } else if (isObject(body) && body.batch !== undefined) {
    throw new HttpError(400, 'MALFORMED_BODY', '`batch` must be an array of events')
  } else if (isObject(body)) events = [body]
  else throw new HttpError(400, 'MALFORMED_BODY', 'body must be a Segment event object, an array of events or {"batch": [...]}')
  if (events.length === 0) throw new HttpError(400, 'MALFORMED_BODY', 'no events in the body')
  if (events.length > maxEvents) {
    throw new HttpError(413, 'TOO_MANY_EVENTS', `${events.length} events in one request; at most ${maxEvents} (inbound.maxEvents): lower the Batch Size in Segment`)
  }
  return events
}
