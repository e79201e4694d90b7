// What the Braze differential tests share: Segment's Braze definition, the settings, the
// subscriptions (the presets, and ones reaching every other action) and the deliberate
// differences (docs/compatibility.md). Used by braze.test.mjs (one event per request) and
// braze-batch.test.mjs (Segment's performBatch).
import { createRequire } from 'node:module'

import { INVALID_ENVELOPE, CONTEXT_NULL } from './harness.mjs'

const require = createRequire(import.meta.url)
const core = require('@segment/actions-core')
export const braze = require('@segment/action-destinations/dist/destinations/braze').default

export const API_KEY = 'braze-test-key-0123'
const SYNC = '__segment_internal_sync_mode'

// Segment's UI gives every subscription of an action with a sync mode its default mode; the
// preset objects in the npm package do not carry it, so it is added here (as in a real
// Segment workspace).
const ACTION_SYNC_DEFAULT = { ecommerce: 'add', ecommerceSingleProduct: 'add' }

export function presetSubscriptions() {
  return braze.presets
    .filter((p) => p.subscribe)
    .map((p) => {
      const mapping = structuredClone(p.mapping)
      if (ACTION_SYNC_DEFAULT[p.partnerAction]) mapping[SYNC] = ACTION_SYNC_DEFAULT[p.partnerAction]
      return { name: p.name, subscribe: p.subscribe, partnerAction: p.partnerAction, mapping, enabled: true }
    })
}

const defaults = (action) => structuredClone(core.defaultValues(braze.actions[action].fields))
const alias = (name) => ({ alias_name: { '@path': name }, alias_label: 'anonymous_id' })

export function extraSubscriptions() {
  const sub = (name, subscribe, partnerAction, mapping) => ({ name, subscribe, partnerAction, mapping, enabled: true })
  return [
    sub('Purchases', 'event = "Order Completed"', 'trackPurchase', defaults('trackPurchase')),
    sub('Purchases v2', 'event = "Order Completed" or event = "Order Refunded"', 'trackPurchase2', { ...defaults('trackPurchase2'), [SYNC]: 'update' }),
    sub('Events v2', 'type = "track"', 'trackEvent2', { ...defaults('trackEvent2'), [SYNC]: 'add' }),
    sub('Events by alias', 'type = "track" and event != "Order Completed"', 'trackEvent', {
      ...defaults('trackEvent'),
      external_id: undefined,
      user_alias: alias('$.anonymousId'),
      _update_existing_only: true
    }),
    sub('Profile v2', 'type = "identify"', 'updateUserProfile2', {
      ...defaults('updateUserProfile2'),
      [SYNC]: 'update',
      user_alias: alias('$.anonymousId'),
      dob: { '@path': '$.traits.birthday' },
      date_of_first_session: { '@path': '$.traits.created_at' },
      marked_email_as_spam_at: { '@path': '$.timestamp' },
      email_subscribe: { '@path': '$.traits.email_subscribe' },
      push_subscribe: { '@path': '$.traits.push_subscribe' },
      language: { '@path': '$.traits.language' },
      subscription_groups: { '@path': '$.traits.subscription_groups' }
    }),
    sub('Aliases', 'type = "alias"', 'createAlias', { external_id: { '@path': '$.userId' }, alias_name: { '@path': '$.previousId' }, alias_label: 'anonymous_id' }),
    sub('Aliases v2', 'event = "Create Alias" or event = "Signed Up"', 'createAlias2', { alias_name: { '@path': '$.anonymousId' }, alias_label: 'anonymous_id', [SYNC]: 'add' }),
    sub('Identify aliases', 'type = "alias"', 'identifyUser', { external_id: { '@path': '$.userId' }, user_alias: alias('$.previousId'), merge_behavior: 'merge' }),
    sub('Refunds (update)', 'event = "Order Refunded"', 'ecommerce', { ...defaults('ecommerce'), name: 'ecommerce.order_refunded', [SYNC]: 'update' }),
    sub('Viewed (update)', 'event = "Product Viewed"', 'ecommerceSingleProduct', { ...defaults('ecommerceSingleProduct'), name: 'ecommerce.product_viewed', [SYNC]: 'update' }),
    sub('Identify v2', 'type = "identify"', 'identifyUser2', {
      [SYNC]: 'add',
      external_id: { '@path': '$.userId' },
      email_to_identify: { '@path': '$.traits.email' },
      user_alias: { '@if': { exists: { '@path': '$.anonymousId' }, then: alias('$.anonymousId'), else: { '@path': '$.nothing' } } },
      prioritization: { first_priority: 'most_recently_updated', second_priority: { '@path': '$.traits.plan' } },
      merge_behavior: 'none'
    }),
    sub('Campaign', 'event = "Signed Up" or event = "Button Clicked"', 'triggerCampaign', {
      ...defaults('triggerCampaign'),
      campaign_id: 'camp-1',
      send_id: { '@path': '$.messageId' },
      broadcast: { '@path': '$.properties.plan' },
      recipients: [{ external_user_id: { '@path': '$.userId' }, email: { '@path': '$.context.traits.email' }, send_to_existing_only: true }],
      prioritization: { first_priority: 'identified', second_priority: 'most_recently_updated' }
    }),
    sub('Catalog upsert', 'event = "Product Viewed" or event = "Product Added"', 'upsertCatalogItem', {
      ...defaults('upsertCatalogItem'),
      [SYNC]: 'upsert',
      onMappingSave: { outputs: { catalog_name: 'products' } },
      item_id: { '@path': '$.properties.product_id' },
      item: { name: { '@path': '$.properties.name' }, price: { '@path': '$.properties.price' }, variant: { '@path': '$.properties.variant' } }
    }),
    sub('Catalog delete', 'event = "Order Cancelled"', 'upsertCatalogItem', {
      [SYNC]: 'delete',
      onMappingSave: { outputs: { catalog_name: 'products' } },
      item_id: { '@path': '$.properties.order_id' }
    }),
    sub('Canvas', 'event = "Song Played" or event = "Product Added"', 'triggerCanvas', {
      ...defaults('triggerCanvas'),
      canvas_id: 'canvas-1',
      recipients: [{ external_user_id: { '@path': '$.userId' }, canvas_entry_properties: { '@path': '$.properties' } }],
      audience: { '@path': '$.context.location' }
    })
  ].map((s) => JSON.parse(JSON.stringify(s)))
}

// Deliberate differences (see docs/compatibility.md), each recognising one difference `d`.
const numericStrings = (e) =>
  [e?.timestamp, e?.receivedAt, ...Object.values(e?.traits && typeof e.traits === 'object' ? e.traits : {})].filter(
    (v) => typeof v === 'string' && v !== '' && String(Number(v)) === v
  )
export const DELIBERATE = [
  INVALID_ENVELOPE,
  CONTEXT_NULL,
  {
    id: 'numeric-string-date',
    reason:
      'a date field holding a plain number string ("12"): Segment validates it as Unix seconds, then formats it with V8\'s legacy Date.parse guess (2001-12-01); we send the Unix-seconds instant it validated',
    applies: (d, ctx) =>
      d.kind === 'body' &&
      typeof d.ours === 'string' &&
      numericStrings(ctx.event).some((v) => {
        const iso = new Date(Number(v) * 1000).toISOString()
        return d.ours === iso || d.ours === iso.slice(0, 10)
      })
  }
]

export const US = { api_key: API_KEY, endpoint: 'https://rest.iad-01.braze.com', app_id: 'app-123' }
export const EU = { api_key: API_KEY, endpoint: 'https://rest.fra-02.braze.eu' }
