// The oracle: Segment's own "Snapchat Conversions API (Actions)" destination (or another one of
// Segment's destinations: `createOracle({ definition, origin })`), run in-process.
//
// For every event and every enabled subscription whose FQL matches (destination-subscriptions
// parseFql + validate, exactly what actions-core's Destination.onSubscription does), the action is
// executed through actions-core's Destination.executeAction with the subscription's mapping:
// mapping-kit transform -> removeEmptyValues -> AJV validation (coercion, removeAdditional) ->
// perform(). The HTTP request perform() issues is captured from the destination's response
// events while nock answers for tr.snapchat.com (nothing leaves the machine).
//
// Output lines have the same shape as our package's dest.plan():
//   { messageId, subscription, request: { method, url, headers, body } }   (token -> REDACTED)
//   { messageId, subscription, error: { message, class, code, status } }
//   { messageId, skipped: 'no matching subscription' }
//
// planBatch(events, subscriptionName) runs Segment's batch path (performBatch) instead.
//
// CLI: `node tests/differential/oracle.mjs [N]` runs the oracle on N generated events (default
// 100, seed from DIFF_SEED) and prints NDJSON, for eyeballing.

// Segment's servers run in UTC; Date.parse of zone-less date strings depends on it.
process.env.TZ = 'UTC'

import { createRequire } from 'node:module'
import path from 'node:path'
import { segmentContext } from '../support/segment-context.mjs'

const require = createRequire(import.meta.url)
const nock = require('nock')
const core = require('@segment/actions-core')
const { parseFql, validate } = require('@segment/destination-subscriptions')
// The module actions-core's Action calls removeEmptyValues through (see planBatch).
const emptyValues = require(path.join(path.dirname(require.resolve('@segment/actions-core')), 'remove-empty-values.js'))
const snapDefinition = require('@segment/action-destinations/dist/destinations/snap-conversions-api').default

export const ACCESS_TOKEN = 'TEST_TOKEN'
export const SETTINGS = Object.freeze({ pixel_id: 'px-123', snap_app_id: 'snap-app-456', app_id: 'com.example.app' })
export const SETTINGS_NO_PIXEL = Object.freeze({ snap_app_id: 'snap-app-456', app_id: 'com.example.app' })
export const SNAP_ORIGIN = 'https://tr.snapchat.com'
export const ACTION = 'reportConversionEvent'

// The 14 reportConversionEvent presets, in Segment's order, in the Public API subscription shape.
export function presetSubscriptions() {
  return snapDefinition.presets
    .filter((p) => p.partnerAction === ACTION)
    .map((p) => ({ name: p.name, subscribe: p.subscribe, partnerAction: p.partnerAction, mapping: structuredClone(p.mapping), enabled: true }))
}

// The action's field defaults (what every preset spreads into its mapping).
export function defaultMapping() {
  return structuredClone(core.defaultValues(snapDefinition.actions[ACTION].fields))
}

// Extra subscriptions that reach the code paths the presets never take (all presets hard-code
// action_source 'website'): app events (snap_app_id URL, app_data/extinfo), an offline source,
// a deprecated-field mapping, a compound FQL, and a disabled subscription.
export function extraSubscriptions() {
  const d = defaultMapping()
  return [
    {
      name: 'App Events',
      subscribe: 'event = "Application Installed" or event = "Application Opened" or event = "Order Completed"',
      partnerAction: ACTION,
      mapping: { ...d, event_name: 'APP_OPEN', action_source: 'app' },
      enabled: true
    },
    {
      name: 'Store Purchase',
      subscribe: 'type = "track" and event = "Order Completed"',
      partnerAction: ACTION,
      mapping: { ...d, event_name: 'PURCHASE', action_source: 'physical_store' },
      enabled: true
    },
    {
      name: 'Legacy Fields',
      subscribe: 'event = "Signed Up" or type = "page"',
      partnerAction: ACTION,
      mapping: {
        event_type: 'SIGN_UP',
        event_conversion_type: 'WEB',
        email: { '@path': '$.properties.email' },
        phone_number: { '@path': '$.properties.phone' },
        ip_address: { '@path': '$.context.ip' },
        user_agent: { '@path': '$.context.userAgent' },
        timestamp: { '@path': '$.timestamp' },
        page_url: { '@path': '$.context.page.url' },
        client_dedup_id: { '@path': '$.messageId' },
        currency: { '@path': '$.properties.currency' },
        price: { '@path': '$.properties.revenue' },
        item_ids: { '@path': '$.properties.product_id' },
        number_items: { '@path': '$.properties.quantity' },
        transaction_id: { '@path': '$.properties.order_id' },
        search_string: { '@path': '$.properties.query' },
        sign_up_method: { '@path': '$.properties.method' },
        mobile_ad_id: { '@path': '$.context.device.advertisingId' },
        click_id: { '@path': '$.integrations.Snap Conversions Api.click_id' },
        uuid_c1: { '@path': '$.integrations.Snap Conversions Api.uuid_c1' }
      },
      enabled: true
    },
    {
      name: 'Disabled Purchase',
      subscribe: 'event = "Order Completed"',
      partnerAction: ACTION,
      mapping: { ...d, event_name: 'PURCHASE', action_source: 'website' },
      enabled: false
    }
  ]
}

export function redactUrl(url) {
  return String(url).replace(/([?&]access_token=)[^&#]*/g, '$1REDACTED')
}

export function redactHeaders(headers, token) {
  const out = {}
  for (const [k, v] of Object.entries(headers || {})) {
    let s = String(v)
    if (token) s = s.split(token).join('REDACTED')
    out[k.toLowerCase()] = s
  }
  return out
}

export function isPlainObjectEvent(e) {
  return e !== null && typeof e === 'object' && !Array.isArray(e)
}

function messageIdOf(e) {
  return isPlainObjectEvent(e) ? e.messageId : undefined
}

function normalizeSubscription(s) {
  return {
    name: s.name,
    subscribe: s.subscribe ?? s.trigger,
    partnerAction: s.partnerAction ?? s.actionId,
    mapping: s.mapping ?? s.fields ?? {},
    enabled: s.enabled !== false
  }
}

function headersToObject(h) {
  const out = {}
  if (!h) return out
  if (typeof h.forEach === 'function' && !Array.isArray(h)) {
    h.forEach((v, k) => (out[k] = v))
    return out
  }
  return { ...h }
}

function describeError(err) {
  return {
    message: err?.message ?? String(err),
    class: err?.name && err.name !== 'Error' ? err.name : err?.constructor?.name ?? 'Error',
    code: err?.code,
    status: err?.status ?? err?.response?.status
  }
}

const nockedOrigins = new Set()
function installNock(origin, reply) {
  if (nockedOrigins.has(origin)) return
  nock.disableNetConnect()
  // Every method a destination uses (Braze catalogs: PUT / DELETE).
  for (const method of ['post', 'put', 'delete']) nock(origin).persist()[method](/.*/).reply(200, reply)
  nockedOrigins.add(origin)
}

// `definition`, `origin` and `reply` select another Segment destination (Braze: its endpoint
// answers `{"message":"success"}`); `secret` is the settings value to redact from headers.
export function createOracle({
  settings = SETTINGS,
  accessToken = ACCESS_TOKEN,
  subscriptions = presetSubscriptions(),
  definition = snapDefinition,
  origin = SNAP_ORIGIN,
  reply = { status: 'VALID', reason: '' },
  secret = accessToken
} = {}) {
  installNock(origin, reply)
  const destination = new core.Destination(definition)
  destination.validateSettings({ ...settings })
  const subs = subscriptions.map(normalizeSubscription).filter((s) => s.enabled)
  const parsed = subs.map((s) => (typeof s.subscribe === 'string' ? parseFql(s.subscribe) : { error: new Error('Failed to validate subscription') }))
  const auth = { accessToken, refreshToken: undefined }
  const noop = () => {}
  const logger = { info: noop, error: noop, warn: noop, debug: noop }

  // One request perform() issued, as our plan() shows it (secrets redacted, JSON body parsed).
  function captured({ request, options }) {
    const headers = redactHeaders({ ...headersToObject(options?.headers), ...headersToObject(request.headers) }, secret)
    let body = options?.body
    try {
      body = JSON.parse(body)
    } catch {
      /* leave raw */
    }
    return { method: String(request.method).toUpperCase(), url: redactUrl(request.url), headers, body }
  }

  async function planOne(event) {
    const messageId = messageIdOf(event)
    if (!isPlainObjectEvent(event)) {
      // Segment's tracking API rejects non-object payloads before any destination runs.
      return [{ messageId, error: { message: 'Event must be a JSON object', class: 'InvalidEvent' } }]
    }
    const lines = []
    for (let i = 0; i < subs.length; i++) {
      const sub = subs[i]
      if (parsed[i].error) {
        lines.push({ messageId, subscription: sub.name, error: { message: `Invalid subscription : ${parsed[i].error.message}`, class: 'InvalidSubscription' } })
        continue
      }
      let matched
      try {
        matched = validate(parsed[i], event)
      } catch (err) {
        lines.push({ messageId, subscription: sub.name, error: describeError(err) })
        continue
      }
      if (!matched) continue
      destination.responses = []
      try {
        await destination.executeAction(sub.partnerAction, {
          event: structuredClone(event),
          mapping: structuredClone(sub.mapping),
          settings: { ...settings },
          auth,
          ...segmentContext(logger)
        })
        const res = destination.responses
        destination.responses = []
        if (res.length !== 1) {
          lines.push({ messageId, subscription: sub.name, error: { message: `oracle: expected 1 request, saw ${res.length}`, class: 'OracleError' } })
          continue
        }
        lines.push({ messageId, subscription: sub.name, request: captured(res[0]) })
      } catch (err) {
        destination.responses = []
        lines.push({ messageId, subscription: sub.name, error: describeError(err) })
      }
    }
    if (lines.length === 0) lines.push({ messageId, skipped: 'no matching subscription' })
    return lines
  }

  async function planEach(events) {
    const out = []
    for (const e of events) out.push(await planOne(e))
    return out
  }

  async function plan(events) {
    return (await planEach(events)).flat()
  }

  // Segment's batch path: the events (already grouped as Segment batches them) through the
  // subscription's performBatch (actions-core executeBatch: per-event mapping and validation,
  // then one performBatch). `requests` in the order they were made; `results` per event:
  // { status, errortype, errormessage } (actions-core's multistatus); `error` when the whole
  // batch threw.
  //
  // `singlePathEmptyStrings`: a counterfactual for deliberate differences. executeBatch cleans
  // each payload with removeEmptyValues without its `isRoot` flag, so top-level fields holding
  // "" stay (executeAction, the single-event path, drops them). With the option the batch
  // path drops them too, everything else unchanged.
  async function planBatch(events, name, { singlePathEmptyStrings = false } = {}) {
    const sub = subs.find((s) => s.name === name)
    destination.responses = []
    const original = emptyValues.removeEmptyValues
    if (singlePathEmptyStrings) emptyValues.removeEmptyValues = (obj, schema) => original(obj, schema, true)
    try {
      const results = await destination.executeBatch(sub.partnerAction, {
        events: structuredClone(events),
        mapping: structuredClone(sub.mapping),
        settings: { ...settings },
        auth,
        ...segmentContext(logger)
      })
      return { requests: destination.responses.map(captured), results: results.map((r) => ({ status: r?.status, errortype: r?.errortype, errormessage: r?.errormessage })) }
    } catch (err) {
      return { requests: destination.responses.map(captured), error: describeError(err) }
    } finally {
      emptyValues.removeEmptyValues = original
      destination.responses = []
    }
  }

  return { planOne, planEach, plan, planBatch, subscriptions: subs }
}

// CLI
if (import.meta.url === `file://${process.argv[1]}`) {
  const { generateEvents, resolveSeed } = await import('./generate.mjs')
  const n = Number(process.argv[2] || process.env.DIFF_N || 100)
  const seed = resolveSeed()
  const events = generateEvents(n, seed)
  const which = process.env.ORACLE_SUBS === 'extra' ? extraSubscriptions() : presetSubscriptions()
  const settings = process.env.ORACLE_NO_PIXEL ? SETTINGS_NO_PIXEL : SETTINGS
  const t0 = performance.now()
  const oracle = createOracle({ settings, subscriptions: which })
  const lines = await oracle.plan(events)
  const ms = performance.now() - t0
  for (const l of lines) process.stdout.write(JSON.stringify(l) + '\n')
  const planned = lines.filter((l) => l.request).length
  const errors = lines.filter((l) => l.error).length
  const skipped = lines.filter((l) => l.skipped).length
  process.stderr.write(`oracle: seed=${seed} events=${n} lines=${lines.length} planned=${planned} errors=${errors} skipped=${skipped} in ${ms.toFixed(0)} ms\n`)
}
