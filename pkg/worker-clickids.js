// First-party Snap click ids for the ready-made Worker.
//
// A landing page calls the collection route (GET/POST clickIds.path) with its own URL; the Worker
// reads Snap's `ScCid` click id from it, keeps a first-party browser id `_scid` (Snap's cookie1,
// reused when the Snap Pixel already set it) and answers with both as first-party cookies and as
// JSON. With a KV namespace bound, it also remembers them under the visitor's Segment
// anonymousId / userId, so later server-side events from Segment, which carry no browser
// cookies, get `integrations["Snap Conversions Api"].click_id` / `.uuid_c1` filled when absent:
// the paths Segment's default Snap mapping reads into user_data.sc_click_id / sc_cookie1.

import { readBody } from './worker-inbound.js'

export const CLICK_COOKIE = '_scclid'
export const BROWSER_COOKIE = '_scid'
export const SNAP_INTEGRATION = 'Snap Conversions Api'
const KV_PREFIX = 'clk:'
// KV reads per inbound request: well under the 1,000 calls to Cloudflare services per invocation.
const MAX_LOOKUPS = 100

const ID = /^[A-Za-z0-9._~-]{1,200}$/
const validId = (v) => (typeof v === 'string' && ID.test(v) ? v : undefined)
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v)

export function parseCookies(header) {
  const out = {}
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=')
    if (i < 0) continue
    const k = part.slice(0, i).trim()
    if (!k || k in out) continue
    let v = part.slice(i + 1).trim()
    try {
      v = decodeURIComponent(v)
    } catch {
      // keep it as sent
    }
    out[k] = v
  }
  return out
}

/** ScCid from a URL (absolute, or a query string such as "?ScCid=..."), any letter case. */
export function clickIdFromUrl(url) {
  if (typeof url !== 'string' || url === '') return undefined
  let params
  try {
    params = url.startsWith('?') ? new URLSearchParams(url) : new URL(url).searchParams
  } catch {
    return undefined
  }
  for (const [k, v] of params) if (k.toLowerCase() === 'sccid') return validId(v)
  return undefined
}

// analytics.js keeps ids JSON-encoded in its cookies (ajs_anonymous_id=%22abc%22).
function segmentId(v) {
  if (typeof v !== 'string' || v === '') return undefined
  if (v.startsWith('"')) {
    try {
      v = JSON.parse(v)
    } catch {
      return undefined
    }
  }
  return typeof v === 'string' && v.length > 0 && v.length <= 200 ? v : undefined
}

const kvKey = (kind, id) => `${KV_PREFIX}${kind}:${id}`

function cookie(name, value, cfg) {
  const parts = [`${name}=${encodeURIComponent(value)}`, 'Path=/', `Max-Age=${Math.round(cfg.cookieMaxAgeDays * 86400)}`, 'Secure', 'SameSite=Lax']
  if (cfg.cookieDomain) parts.push(`Domain=${cfg.cookieDomain}`)
  return parts.join('; ')
}

function corsHeaders(request, cfg) {
  const o = request.headers.get('origin')
  if (!o || !cfg.allowedOrigins.includes(o)) return {}
  return {
    'access-control-allow-origin': o,
    'access-control-allow-credentials': 'true',
    'access-control-allow-methods': 'GET, POST',
    'access-control-allow-headers': 'content-type',
    vary: 'Origin'
  }
}

/**
 * The collection route. Input, all optional: `url` (the landing page URL; else the Referer),
 * `anonymousId` / `userId` (else analytics.js's ajs_* cookies), as query parameters or a JSON
 * body. Answers `{ click_id, uuid_c1 }` and sets `_scclid` / `_scid` cookies.
 */
export async function handleCollect(request, cfg, kv) {
  const cors = corsHeaders(request, cfg)
  if (request.method === 'OPTIONS') return new Response(null, { status: 204, headers: cors })
  if (request.method !== 'GET' && request.method !== 'POST') {
    return Response.json({ error: { code: 'METHOD_NOT_ALLOWED', message: 'use GET or POST' } }, { status: 405, headers: cors })
  }
  const reqUrl = new URL(request.url)
  const input = Object.fromEntries(reqUrl.searchParams)
  if (request.method === 'POST') {
    const text = new TextDecoder().decode(await readBody(request, 16384))
    if (text.trim()) {
      let body
      try {
        body = JSON.parse(text)
      } catch {
        return Response.json({ error: { code: 'MALFORMED_BODY', message: 'body is not valid JSON' } }, { status: 400, headers: cors })
      }
      if (isObject(body)) for (const k of ['url', 'anonymousId', 'userId']) if (typeof body[k] === 'string') input[k] = body[k]
    }
  }
  const cookies = parseCookies(request.headers.get('cookie'))
  const newClick = clickIdFromUrl(reqUrl.search) ?? clickIdFromUrl(input.url) ?? clickIdFromUrl(request.headers.get('referer') ?? '')
  const clickId = newClick ?? validId(cookies[CLICK_COOKIE])
  const knownScid = validId(cookies[BROWSER_COOKIE])
  const scid = knownScid ?? crypto.randomUUID()
  const anonymousId = segmentId(input.anonymousId) ?? segmentId(cookies.ajs_anonymous_id)
  const userId = segmentId(input.userId) ?? segmentId(cookies.ajs_user_id)

  const ids = { uuid_c1: scid }
  if (clickId) ids.click_id = clickId
  let stored = false
  // KV writes are metered (1,000 a day on the free plan): write on an ad click or a new browser
  // id, not on every page view of a known visitor.
  if (kv && (anonymousId || userId) && (newClick || !knownScid || input.anonymousId || input.userId)) {
    const value = JSON.stringify(ids)
    const ttl = Math.round(cfg.ttlDays * 86400)
    const keys = [anonymousId && kvKey('a', anonymousId), userId && kvKey('u', userId)].filter(Boolean)
    await Promise.all(keys.map((k) => kv.put(k, value, { expirationTtl: ttl })))
    stored = true
  }
  const headers = new Headers({ 'cache-control': 'no-store', ...cors })
  headers.append('set-cookie', cookie(BROWSER_COOKIE, scid, cfg))
  if (clickId) headers.append('set-cookie', cookie(CLICK_COOKIE, clickId, cfg))
  return Response.json({ ...ids, stored }, { headers })
}

/**
 * Fills click_id / uuid_c1 into events that lack them, in place: the click id from the event's
 * own page URL, else from KV (by anonymousId, then userId), and uuid_c1 from KV. Values the
 * event carries win; an integration switched off (`false`) is left alone.
 */
export async function fillClickIds(events, kv) {
  const cache = new Map()
  const lookup = async (key) => {
    if (!kv) return null
    if (!cache.has(key)) {
      if (cache.size >= MAX_LOOKUPS) return null
      cache.set(
        key,
        kv.get(key).then(
          (v) => {
            try {
              return v ? JSON.parse(v) : null
            } catch {
              return null
            }
          },
          () => null
        )
      )
    }
    return cache.get(key)
  }
  let filled = 0
  for (const event of events) {
    if (!isObject(event)) continue
    const integrations = isObject(event.integrations) ? event.integrations : {}
    const current = integrations[SNAP_INTEGRATION]
    if (current === false) continue
    const snap = isObject(current) ? { ...current } : {}
    const want = () => snap.click_id === undefined || snap.uuid_c1 === undefined
    if (!want()) continue
    // The event's own page URL is the latest landing: its ScCid beats an older one in KV.
    if (snap.click_id === undefined) {
      const page = isObject(event.context?.page) ? event.context.page : {}
      const fromPage = clickIdFromUrl(page.url) ?? clickIdFromUrl(page.search)
      if (fromPage) snap.click_id = fromPage
    }
    for (const [kind, id] of [['a', event.anonymousId], ['u', event.userId]]) {
      if (!want() || typeof id !== 'string' || id === '') continue
      const found = await lookup(kvKey(kind, id))
      if (found?.click_id !== undefined && snap.click_id === undefined) snap.click_id = found.click_id
      if (found?.uuid_c1 !== undefined && snap.uuid_c1 === undefined) snap.uuid_c1 = found.uuid_c1
    }
    if (snap.click_id === current?.click_id && snap.uuid_c1 === current?.uuid_c1) continue
    event.integrations = { ...integrations, [SNAP_INTEGRATION]: snap }
    filled++
  }
  return filled
}
