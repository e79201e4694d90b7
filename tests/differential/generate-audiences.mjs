// Seeded generator of Engage audience membership events (identify / track calls with
// `context.personas`, the audience key true or false, `Audience Entered` / `Audience Exited`),
// messy on purpose: identifiers in odd formats, blank, already hashed, missing; keys set to
// truthy and falsy non-booleans; events without an external audience id; a few unrelated
// events. Same seed + same n => same events. JSON-clean values only.

import { makeRng, resolveSeed } from './generate.mjs'

export { resolveSeed }

export const AUDIENCE_KEYS = ['high_ltv_customers', 'churned_users', 'recent_purchasers']

function email(r) {
  return r.weighted([
    [5, () => `${r.pick(['jane.doe', 'JOHN', 'a.b+tag', 'Ünïcode', 'x'])}${r.int(0, 50)}@${r.pick(['example.com', 'Example.COM', 'mail.co'])}`],
    [2, () => `  ${r.pick(['Jane@Example.com', 'MIXED.Case@X.io'])}\t`],
    [1, () => 'inner space@x.io'],
    [1, '   '],
    [1, ''],
    [1, () => r.hex(64)],
    [1, () => r.hex(64).toUpperCase()],
    [1, () => r.int(1, 999)]
  ])
}

function phone(r) {
  return r.weighted([
    [4, () => `+1 (${r.int(200, 999)}) ${r.int(200, 999)}-${String(r.int(0, 9999)).padStart(4, '0')}`],
    [2, () => `00${r.int(30, 49)} ${r.int(10, 99)} ${r.int(1000, 9999)} ${r.int(1000, 9999)}`],
    [2, () => `0${r.int(100000000, 999999999)}`],
    [1, () => `${r.int(200, 999)}.${r.int(200, 999)}.${r.int(1000, 9999)}`],
    [1, '()'],
    [1, '+-'],
    [1, ' '],
    [1, () => r.int(1000000, 99999999)],
    [1, () => r.hex(64)]
  ])
}

function adId(r) {
  return r.weighted([
    [4, () => r.uuid().toUpperCase()],
    [2, () => ` ${r.uuid()} `],
    [1, '00000000-0000-0000-0000-000000000000'],
    [1, '']
  ])
}

function membershipValue(r, entered) {
  return r.weighted([
    [12, entered],
    [1, entered ? 1 : 0],
    [1, entered ? 'true' : ''],
    [1, null]
  ])
}

export function generateAudienceEvents(n = 1000, seed = resolveSeed()) {
  const r = makeRng(seed)
  const events = []
  for (let i = 0; i < n; i++) {
    const key = r.pick(AUDIENCE_KEYS)
    const entered = r.chance(0.6)
    const type = r.weighted([[8, 'track'], [3, 'identify'], [1, 'page']])
    const ids = {}
    if (r.chance(0.7)) ids.email = email(r)
    if (r.chance(0.4)) ids.phone = phone(r)
    if (r.chance(0.2)) ids.android_idfa = adId(r)
    if (r.chance(0.2)) ids.ios_idfa = adId(r)
    if (r.chance(0.1)) {
      ids.alias_name = `alias-${r.int(1, 9)}`
      ids.alias_label = r.pick(['crm', 'shop'])
    }
    const values = { [key]: membershipValue(r, entered), ...ids }
    if (r.chance(0.05)) delete values[key]
    const personas = {
      computation_key: key,
      computation_id: `aud_${key}`,
      computation_class: 'audience',
      space_id: 'spa_1'
    }
    if (r.chance(0.9)) personas.external_audience_id = r.weighted([[9, () => String(1000 + AUDIENCE_KEYS.indexOf(key))], [1, () => r.uuid()]])
    const e = {
      type,
      messageId: `msg-${i}`,
      timestamp: new Date(Date.UTC(2024, 0, 1) + r.int(0, 86400 * 60) * 1000).toISOString(),
      context: { personas, library: { name: 'unknown', version: 'unknown' } }
    }
    if (r.chance(0.85)) e.userId = `user-${r.int(1, 400)}`
    if (r.chance(0.5)) e.anonymousId = r.uuid()
    if (r.chance(0.3)) e.context.device = { id: `device-${r.int(1, 50)}` }
    if (type === 'track') {
      e.event = r.weighted([[6, entered ? 'Audience Entered' : 'Audience Exited'], [1, 'Order Completed']])
      e.properties = values
      if (r.chance(0.1)) e.traits = { ...values }
    } else if (type === 'identify') {
      e.traits = values
      if (r.chance(0.2)) e.properties = { ...values }
    } else {
      e.properties = values
    }
    events.push(e)
  }
  return events
}
