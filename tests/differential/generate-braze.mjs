// Seeded generator of Segment events for the Braze differential test: identify calls with
// traits (standard, custom, odd types), track calls with receivedAt, the ecommerce events of
// Braze's presets (Order Completed / Checkout Started / Order Refunded / Order Cancelled /
// Product Viewed) with products and discounts, alias calls (anonymous -> known), and a share
// of the messy events of generate.mjs (wrong types, non-objects, missing ids).
//
// CLI: `node tests/differential/generate-braze.mjs [N]` prints NDJSON (seed on stderr).
import { makeRng, generateEvents, resolveSeed } from './generate.mjs'

const ECOMMERCE_EVENTS = ['Order Completed', 'Checkout Started', 'Order Refunded', 'Order Cancelled', 'Product Viewed']
const TRACK_EVENTS = ['Signed Up', 'Song Played', 'Product Added', 'Button Clicked', 'Create Alias', '']
const GENDERS = ['male', 'Female', 'M', 'w', 'other', 'prefer not to say', 'N', 'nonbinary', '', null, 3]
const DATES = ['1990-05-17', '1990-05-17T00:00:00.000Z', '2001/02/03', '17 May 1990', 'not a date', '', 631152000, '2024-13-45', null]
const EMAILS = ['jane@example.com', ' Jane.Doe@Example.COM ', 'bad-email', '', null, 42]
const PHONES = ['+1 555 010 9999', '5550109999', '', null]
const CURRENCIES = ['USD', 'EUR', 'usd', 'XXX', '', null, 5]

function maybe(r, p, f) {
  return r.chance(p) ? f() : undefined
}

function identity(r, e) {
  const k = r.weighted([[6, 'user'], [2, 'anon'], [1, 'both-empty'], [0.5, 'number'], [0.3, 'object']])
  if (k === 'user') e.userId = r.pick(['user-1', 'USER 2', 'u_3@example.com', ' padded ', 'ü-4'])
  if (k === 'number') e.userId = r.pick([12345, 0, 1.5])
  if (k === 'object') e.userId = { id: 7 }
  if (k === 'both-empty') e.userId = ''
  if (k !== 'both-empty' && r.chance(0.7)) e.anonymousId = r.chance(0.95) ? r.uuid() : r.pick(['', 77])
}

function traits(r) {
  const t = {}
  const put = (k, p, f) => {
    if (r.chance(p)) t[k] = f()
  }
  put('email', 0.6, () => r.pick(EMAILS))
  put('firstName', 0.6, () => r.pick(['Jane', 'José', '', null, 7]))
  put('lastName', 0.6, () => r.pick(['Doe', 'Ünal', '', null]))
  put('phone', 0.4, () => r.pick(PHONES))
  put('gender', 0.4, () => r.pick(GENDERS))
  put('avatar', 0.2, () => r.pick(['https://img.example/a.png', '']))
  put('birthday', 0.3, () => r.pick(DATES))
  put('address', 0.4, () => r.pick([{ city: 'Berlin', country: 'DE' }, { city: '' }, { street: '1 Main' }, 'Paris']))
  put('plan', 0.5, () => r.pick(['pro', 'free', '', null]))
  put('logins', 0.4, () => r.pick([3, '12', 0, -1, 2.5]))
  put('tags', 0.2, () => r.pick([['a', 'b'], [], ['x', 1]]))
  put('prefs', 0.2, () => r.pick([{ color: 'red', n: 1 }, {}]))
  put('country', 0.2, () => r.pick(['US', '', null]))
  put('current_location', 0.05, () => ({ latitude: 1, longitude: 2 }))
  put('braze_id', 0.05, () => r.pick(['bz-1', '']))
  put('email_subscribe', 0.2, () => r.pick(['opted_in', 'unsubscribed', 'subscribed', 'maybe', true]))
  put('push_subscribe', 0.1, () => r.pick(['opted_in', 'unsubscribed']))
  put('language', 0.1, () => r.pick(['en', 'de-DE', '']))
  put('created_at', 0.2, () => r.pick(DATES))
  put('subscription_groups', 0.1, () =>
    r.pick([[{ subscription_group_id: 'sg-1', subscription_state: 'subscribed' }], [], [{ subscription_group_id: 'sg-2' }]])
  )
  return t
}

function context(r) {
  const c = { ip: '203.0.113.9', userAgent: 'Mozilla/5.0' }
  if (r.chance(0.3)) c.location = r.pick([{ country: 'Germany', latitude: 52.52, longitude: 13.4 }, { latitude: '52.5', longitude: null }, { country: '' }, { latitude: 'north' }])
  if (r.chance(0.3)) c.traits = { email: r.pick(EMAILS), phone: r.pick(PHONES), ...(r.chance(0.2) ? { braze_id: 'bz-ctx' } : {}) }
  return c
}

function product(r) {
  const p = {}
  const put = (k, prob, f) => {
    if (r.chance(prob)) p[k] = f()
  }
  put('product_id', 0.9, () => r.pick(['SKU-1', 'SKU-2', 507, '']))
  put('name', 0.8, () => r.pick(['Shoe', 'Hat', '']))
  put('variant', 0.7, () => r.pick(['red', 'L', 3]))
  put('price', 0.85, () => r.pick([9.99, 10, '12.5', 'free', 0, -1]))
  put('quantity', 0.8, () => r.pick([1, 2, '3', 1.5, null]))
  put('currency', 0.3, () => r.pick(CURRENCIES))
  put('image_url', 0.3, () => 'https://img.example/p.png')
  put('url', 0.3, () => 'https://shop.example/p')
  put('category', 0.3, () => r.pick(['shoes', 'hats']))
  put('sku', 0.2, () => 'S-1')
  return p
}

function ecommerceProps(r, event) {
  const p = {}
  const put = (k, prob, f) => {
    if (r.chance(prob)) p[k] = f()
  }
  put('total', 0.85, () => r.pick([25.5, 100, '30', 'lots', 0]))
  put('currency', 0.9, () => r.pick(CURRENCIES))
  put('source', 0.8, () => r.pick(['web', 'ios', '']))
  put('order_id', 0.85, () => r.pick(['ORD-1', 1234, '']))
  put('checkout_id', event === 'Checkout Started' ? 0.8 : 0.1, () => r.pick(['co-1', 55]))
  put('cart_id', 0.4, () => r.pick(['cart-1', '']))
  put('reason', event === 'Order Cancelled' ? 0.8 : 0.1, () => r.pick(['changed mind', '']))
  put('discount', 0.4, () => r.pick([5, '2.5', 'none']))
  put('discount_items', 0.3, () => r.pick([[{ code: 'SAVE5', amount: 5 }], [{ code: 'X' }], []]))
  put('order_status_url', 0.3, () => 'https://shop.example/o/1')
  put('checkout_url', 0.3, () => 'https://shop.example/c/1')
  put('revenue', 0.3, () => 25.5)
  put('email', 0.2, () => r.pick(EMAILS))
  put('braze_id', 0.1, () => r.pick(['bz-1', null]))
  if (event === 'Product Viewed') {
    Object.assign(p, product(r))
  } else if (r.chance(0.9)) {
    const n = r.weighted([[1, 0], [5, 1], [3, 3], [0.5, 8]])
    p.products = Array.from({ length: n }, () => product(r))
    if (r.chance(0.03)) p.products = r.pick(['not-an-array', [null, 5]])
  }
  return p
}

function dateValue(r) {
  return r.weighted([
    [8, '2024-03-05T12:34:56.789Z'],
    [1, '2024-03-05 12:34:56'],
    [1, '2024-03-05'],
    [0.5, 1709642096789],
    [0.5, 'yesterday'],
    [0.3, '']
  ])
}

function brazeEvent(r, i) {
  const kind = r.weighted([[35, 'identify'], [20, 'track'], [25, 'ecommerce'], [8, 'alias'], [2, 'page']])
  const e = { messageId: `bz-${i}` }
  identity(r, e)
  e.context = context(r)
  if (r.chance(0.9)) e.timestamp = dateValue(r)
  if (r.chance(0.75)) e.receivedAt = r.chance(0.9) ? '2024-03-05T12:35:00.000Z' : dateValue(r)
  if (kind === 'identify') {
    e.type = 'identify'
    e.traits = traits(r)
    if (r.chance(0.1)) e.properties = { braze_id: r.pick(['bz-9', null, '']) }
  } else if (kind === 'track' || kind === 'ecommerce') {
    e.type = r.chance(0.97) ? 'track' : 'identify'
    e.event = kind === 'track' ? r.pick(TRACK_EVENTS) : r.pick(ECOMMERCE_EVENTS)
    e.properties = kind === 'track' ? { plan: 'pro', email: r.pick(EMAILS), ...(r.chance(0.1) ? { braze_id: 'bz-2' } : {}) } : ecommerceProps(r, e.event)
    if (r.chance(0.3)) e.traits = { email: r.pick(EMAILS) }
  } else if (kind === 'alias') {
    e.type = 'alias'
    e.previousId = r.chance(0.9) ? r.uuid() : r.pick(['', 5])
  } else {
    e.type = 'page'
    e.name = 'Home'
  }
  return JSON.parse(JSON.stringify(e))
}

// n events: about three in four Braze-shaped, the rest generate.mjs's messy ones.
export function generateBrazeEvents(n = 3000, seed = resolveSeed()) {
  const r = makeRng((seed ^ 0x5eed) >>> 0)
  const messy = generateEvents(Math.ceil(n / 4) + 16, seed)
  const out = []
  let m = 0
  for (let i = 0; i < n; i++) out.push(r.chance(0.25) && m < messy.length ? messy[m++] : brazeEvent(r, i))
  return out
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const n = Number(process.argv[2] || process.env.DIFF_N || 100)
  const seed = resolveSeed()
  process.stderr.write(`generate-braze: seed=${seed} n=${n} (replay with DIFF_SEED=${seed})\n`)
  for (const e of generateBrazeEvents(n, seed)) process.stdout.write(JSON.stringify(e) + '\n')
}
