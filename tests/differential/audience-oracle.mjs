// The audience oracles: Segment's own "Snap Audiences (Actions)" and "Braze Cohorts"
// destinations, run in-process through actions-core's Destination.executeAction (mapping-kit,
// removeEmptyValues, AJV validation, perform) with nock answering every host (nothing leaves
// the machine). Every request perform() issues is recorded in order, so one event gives a list
// of requests (Snap: one per identifier schema; Braze: create cohort, then the update).
//
// planOne(event) -> per matching subscription { subscription, requests: [{ method, url, headers,
// body }] } or { subscription, error: { message, class } }; [] when no subscription matches.
// Secrets in bodies (client_secret, partner_api_key) and the bearer token are REDACTED.

process.env.TZ = 'UTC'
// Segment takes the Braze partner key from the environment; unset, its body has none.
delete process.env.BRAZE_COHORTS_PARTNER_API_KEY_US
delete process.env.BRAZE_COHORTS_PARTNER_API_KEY_EU

import { createRequire } from 'node:module'
import { segmentContext } from '../support/segment-context.mjs'

const require = createRequire(import.meta.url)
const nock = require('nock')
const core = require('@segment/actions-core')
const { parseFql, validate } = require('@segment/destination-subscriptions')

export const snapAudiences = require('@segment/action-destinations/dist/destinations/snap-audiences').default
export const brazeCohorts = require('@segment/action-destinations/dist/destinations/braze-cohorts').default

export const ACCESS_TOKEN = 'TEST_TOKEN'
export const CLIENT_SECRET = 'BRAZE_CLIENT_SECRET'
export const SNAP_SETTINGS = Object.freeze({ ad_account_id: 'acc-123' })
export const BRAZE_SETTINGS = Object.freeze({ client_secret: CLIENT_SECRET, endpoint: 'https://rest.fra-01.braze.eu' })
const SECRET_KEYS = ['client_secret', 'partner_api_key']

// Snap's "Sync Engage Audience" preset, in the Public API subscription shape.
export function snapSubscriptions() {
  return snapAudiences.presets
    .filter((p) => p.type === 'automatic')
    .map((p) => ({ name: p.name, subscribe: p.subscribe, partnerAction: p.partnerAction, mapping: structuredClone(p.mapping), enabled: true }))
}

// Braze Cohorts has no preset: its defaults, the audience key typed in (as users must), and
// the optional device id and alias mapped.
export function brazeSubscriptions(audienceKey) {
  const d = core.defaultValues(brazeCohorts.actions.syncAudiences.fields)
  return [
    {
      name: 'Sync Braze Cohort',
      subscribe: 'type = "identify" or event = "Audience Entered" or event = "Audience Exited"',
      partnerAction: 'syncAudiences',
      mapping: {
        ...d,
        personas_audience_key: audienceKey,
        device_id: { '@path': '$.context.device.id' },
        user_alias: {
          '@if': {
            exists: { '@path': '$.properties.alias_name' },
            then: { alias_name: { '@path': '$.properties.alias_name' }, alias_label: { '@path': '$.properties.alias_label' } }
          }
        }
      },
      enabled: true
    }
  ]
}

const recorded = []
// Requests issued (https.request calls) and answered by nock: a perform that throws part-way
// leaves some in flight, and they must land before the next event's list starts.
let issued = 0
let landed = 0
async function settle() {
  for (let i = 0; i < 1000 && landed < issued; i++) await new Promise((resolve) => setTimeout(resolve, 2))
}
let nockInstalled = false
function installNock() {
  if (nockInstalled) return
  nock.disableNetConnect()
  for (const host of ['https://adsapi.snapchat.com', 'https://rest.fra-01.braze.eu', 'https://rest.iad-01.braze.com']) {
    const record = function (uri, body) {
      landed++
      recorded.push({ method: this.req.method, url: `${host}${uri}`, headers: { ...this.req.headers }, body })
      return [200, { request_status: 'SUCCESS', segments: [{ segment: { id: 'seg-1' } }], message: 'success' }]
    }
    const scope = nock(host).persist()
    for (const m of ['post', 'delete', 'get', 'put']) scope[m](/.*/).reply(record)
  }
  // node-fetch (under actions-core's cross-fetch) looks `https.request` up at each call.
  const https = require('node:https')
  const intercepted = https.request
  https.request = function (...args) {
    issued++
    return intercepted.apply(this, args)
  }
  nockInstalled = true
}

function redactBody(body, token) {
  let b = body
  if (typeof b === 'string') {
    try {
      b = JSON.parse(b)
    } catch {
      return b
    }
  }
  if (b && typeof b === 'object' && !Array.isArray(b)) for (const k of SECRET_KEYS) if (k in b) b[k] = 'REDACTED'
  return b
}

function redactHeaders(h, token) {
  const out = {}
  for (const [k, v] of Object.entries(h || {})) out[k.toLowerCase()] = String(v).split(token).join('REDACTED')
  return out
}

function describeError(err) {
  return { message: err?.message ?? String(err), class: err?.name && err.name !== 'Error' ? err.name : err?.constructor?.name ?? 'Error' }
}

// The first error a MultiStatusResponse (Snap's perform returns one) carries, if any.
function multiStatusError(results) {
  const data = results?.[results.length - 1]?.data
  if (!(data instanceof core.MultiStatusResponse)) return null
  for (let i = 0; i < data.length(); i++) {
    const r = data.getResponseAtIndex(i)?.value()
    if (r && typeof r.status === 'number' && (r.status < 200 || r.status >= 300)) return { message: r.errormessage, class: r.errortype }
  }
  return null
}

export function createAudienceOracle({ definition, settings, subscriptions, accessToken = ACCESS_TOKEN }) {
  installNock()
  const destination = new core.Destination(definition)
  destination.validateSettings({ ...settings })
  const subs = subscriptions.filter((s) => s.enabled !== false)
  const parsed = subs.map((s) => parseFql(s.subscribe))
  const noop = () => {}
  const logger = { info: noop, error: noop, warn: noop, debug: noop }

  async function planOne(event) {
    const lines = []
    for (let i = 0; i < subs.length; i++) {
      const sub = subs[i]
      if (parsed[i].error || !validate(parsed[i], event)) continue
      recorded.length = 0
      try {
        const results = await destination.executeAction(sub.partnerAction, {
          event: structuredClone(event),
          mapping: structuredClone(sub.mapping),
          settings: { ...settings },
          auth: { accessToken, refreshToken: undefined },
          ...segmentContext(logger)
        })
        const err = multiStatusError(results)
        if (err) lines.push({ subscription: sub.name, error: err })
        else lines.push({ subscription: sub.name, requests: recorded.map((r) => ({ method: r.method, url: r.url, headers: redactHeaders(r.headers, accessToken), body: redactBody(r.body) })) })
      } catch (err) {
        lines.push({ subscription: sub.name, error: describeError(err) })
      }
      await settle()
      recorded.length = 0
    }
    return lines
  }

  // Segment's performBatch for events of one subscription (the caller groups them as Segment's
  // batch keys would): the requests it makes, or its error.
  async function planBatch(events, sub = subs[0]) {
    recorded.length = 0
    try {
      const results = await destination.executeBatch(sub.partnerAction, {
        events: structuredClone(events),
        mapping: structuredClone(sub.mapping),
        settings: { ...settings },
        auth: { accessToken, refreshToken: undefined },
        ...segmentContext(logger)
      })
      const bad = (results ?? []).find((r) => typeof r?.status === 'number' && (r.status < 200 || r.status >= 300))
      if (bad) return { error: { message: bad.errormessage, class: bad.errortype } }
      return { requests: recorded.map((r) => ({ method: r.method, url: r.url, body: redactBody(r.body) })) }
    } catch (err) {
      return { error: describeError(err) }
    } finally {
      await settle()
      recorded.length = 0
    }
  }

  return { planOne, planBatch, subscriptions: subs }
}
