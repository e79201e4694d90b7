// The two worked examples of README.md "Audiences", run against the local mock of the Snap
// Marketing API (tests/support/mock-audiences.mjs), so they can be run as they are:
//
//   make build && node examples/audiences.mjs
//
// 1. A suppression list: Engage's `recent_purchasers` audience kept current in a Snap segment
//    that ad squads exclude, so people who just bought stop seeing acquisition ads.
// 2. A lookalike from high-LTV customers: `high_ltv_customers` synced as the seed, and a
//    lookalike segment created from it when the audience first fills.
import { createDestination } from '../pkg/node.js'
import { startMockAudiences } from '../tests/support/mock-audiences.mjs'

const mock = await startMockAudiences()
const settings = { ad_account_id: 'acc-1', access_token: mock.accessToken, batch_size: 10000 }

// What Engage sends when someone enters or exits an audience (a track call here; an identify
// carries the same in `traits`).
const membership = (messageId, key, externalAudienceId, member, email) => ({
  type: 'track',
  event: member ? 'Audience Entered' : 'Audience Exited',
  messageId,
  userId: `user-${messageId}`,
  properties: { [key]: member, email },
  context: { personas: { computation_key: key, computation_id: `aud_${key}`, computation_class: 'audience', external_audience_id: externalAudienceId } }
})

// 1. Suppression list of recent purchasers (Snap segment 555 was created for the audience).
const suppression = createDestination({ destination: 'snap-audiences', baseUrl: mock.url, settings })
const purchases = [
  membership('p1', 'recent_purchasers', '555', true, 'Ana@Example.com'),
  membership('p2', 'recent_purchasers', '555', true, 'ben@example.com'),
  membership('p3', 'recent_purchasers', '555', false, 'ana@example.com') // 30 days later: out
]
console.log('plan:', JSON.stringify(suppression.plan(purchases), null, 1))
const results = await suppression.send(purchases)
console.log('sent:', results.map((r) => `${r.messageId} delivered=${r.delivered}`).join(', '))
console.log('segment 555 now holds', mock.snapMembers('555').size, 'hashed email(s)')

// 2. Lookalike from high-LTV customers: the seed segment (556) is synced as above; the first
// entry also creates the lookalike (one creation per call, whatever the number of entries).
mock.segments.set('556', { spec: null, members: new Set() })
const lookalike = createDestination({
  destination: 'snap-audiences',
  baseUrl: mock.url,
  settings,
  subscriptions: [
    { name: 'Sync high-LTV seed', subscribe: 'type = "track" or type = "identify"', partnerAction: 'syncAudience' },
    {
      name: 'High-LTV lookalike',
      subscribe: 'event = "Audience Entered" and context.personas.computation_key = "high_ltv_customers"',
      partnerAction: 'createLookalike',
      mapping: {
        seed_segment_id: { '@path': '$.context.personas.external_audience_id' },
        name: 'High-LTV customers lookalike (US, CA)',
        countries: ['US', 'CA'],
        type: 'SIMILARITY'
      }
    }
  ]
})
const highLtv = [membership('h1', 'high_ltv_customers', '556', true, 'cleo@example.com'), membership('h2', 'high_ltv_customers', '556', true, 'dev@example.com')]
console.log('plan:', JSON.stringify(lookalike.plan(highLtv).filter((l) => l.subscription === 'High-LTV lookalike'), null, 1))
const sent = await lookalike.send(highLtv)
console.log('sent:', sent.map((r) => `${r.messageId} ${r.subscription} delivered=${r.delivered}`).join(', '))
const created = [...mock.segments.values()].find((s) => s.spec?.source_type === 'LOOKALIKE')
console.log('lookalike created:', JSON.stringify(created.spec.creation_spec))

suppression.free()
lookalike.free()
await mock.close()
