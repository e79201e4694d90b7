// Seeded generator of Segment-style events for the Snap differential test.
//
//   import { generateEvents, resolveSeed } from './generate.mjs'
//   const seed = resolveSeed()                // env DIFF_SEED, else a fresh random seed
//   const events = generateEvents(3000, seed) // same seed + same n => same events
//
// CLI: `node tests/differential/generate.mjs [N]` prints NDJSON (seed on stderr).
//
// The events are deliberately messy: every preset trigger, non-matching events, web and mobile
// contexts, odd identifier formats, wrongly typed fields, and a few non-object "events".
// Every generated value is JSON-clean (no undefined/NaN/Infinity, no lone surrogates) so both
// sides of the differential see exactly the same input whatever marshalling they use.

// ---------------------------------------------------------------------------------------------
// PRNG (mulberry32) + helpers
export function makeRng(seed) {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const r = {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)), // inclusive
    chance: (p) => next() < p,
    pick: (arr) => arr[Math.floor(next() * arr.length)],
    // weighted: [[w, value | () => value], ...]
    weighted: (pairs) => {
      const total = pairs.reduce((s, [w]) => s + w, 0)
      let x = next() * total
      for (const [w, v] of pairs) {
        if ((x -= w) < 0) return typeof v === 'function' ? v() : v
      }
      const v = pairs[pairs.length - 1][1]
      return typeof v === 'function' ? v() : v
    },
    hex: (n) => {
      let s = ''
      for (let i = 0; i < n; i++) s += '0123456789abcdef'[Math.floor(next() * 16)]
      return s
    },
    uuid: () => `${r.hex(8)}-${r.hex(4)}-4${r.hex(3)}-${r.pick(['8', '9', 'a', 'b'])}${r.hex(3)}-${r.hex(12)}`
  }
  return r
}

export function resolveSeed() {
  const env = process.env.DIFF_SEED
  if (env !== undefined && env !== '') {
    const n = Number(env)
    if (!Number.isInteger(n)) throw new Error(`DIFF_SEED must be an integer, got ${env}`)
    return n >>> 0
  }
  return (Math.random() * 2 ** 32) >>> 0
}

// ---------------------------------------------------------------------------------------------
// Vocabulary
export const PRESET_TRACK_EVENTS = [
  'Payment Info Entered',
  'Product Added',
  'Product Added to Wishlist',
  'Application Installed',
  'Product List Viewed',
  'Application Opened',
  'Signed In',
  'Order Completed',
  'Products Searched',
  'Product Shared',
  'Signed Up',
  'Checkout Started',
  'Product Viewed'
]

const NON_MATCHING_TRACK_EVENTS = [
  'Order Refunded',
  'order completed', // FQL '=' is case-sensitive
  'Order Completed ', // trailing space
  ' Product Added',
  'PRODUCT VIEWED',
  'Cart Viewed',
  'Coupon Applied',
  'Application Backgrounded',
  'Page Viewed',
  'Signed Out',
  '',
  'Order  Completed'
]

const SHA_LOWER = [
  '973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b', // sha256("test@example.com")
  '5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8'
]
const SHA_UPPER = SHA_LOWER.map((h) => h.toUpperCase())

// Raw PII values. These exact strings are also used by the Node tests' no-raw-PII assertion.
const EMAILS = [
  'jane.doe@example.com',
  '  Jane.Doe@Example.COM  ',
  'JOHN+promo@EXAMPLE.org',
  'j o h n@example.net',
  'ÄLICE@bücher.example',
  'müller@straße.de',
  'user\t@example.com',
  'x@y.z',
  '\u00a0nbsp@example.com\u00a0', // non-breaking spaces: \s matches them in JS
  '\u3000wide@example.jp', // ideographic space
  'no-at-sign',
  'émile.zola@exemple.fr'
]
const PHONES = [
  '+1 (415) 555-0123',
  '+44 844 412 4653',
  '0044 20 7946 0958',
  '00 33 1 23 45 67 89',
  '415-555-0199',
  '415.555.0100',
  '(415) 555 0111 ext 12',
  '1-800-FLOWERS',
  '+49 (0) 30 123456',
  '+86 138 0013 8000',
  '+91 98765 43210',
  ' 07700 900123 '
]
// Phones that normalize to nothing (Segment then fails with 'Cannot hash an empty string').
const PHONES_EMPTY_AFTER_CLEANING = [
  '０９０-１２３４-５６７８', // full-width digits (\D matches them)
  '+٩٧١٥٠١٢٣٤٥٦٧', // Arabic-Indic digits
  '0',
  '000',
  'call me'
]
const PHONE_NUMBERS = [14155550123, 447700900123, 33123456789, 4155550123, 4155550123, 12.5, 1e21, 0]
const FIRST_NAMES = ['Jane', ' JOHN ', 'Zoë', 'Anne Marie', 'José', 'o\'brien', 'ÅSA', '李', 'Mary-Jane']
const LAST_NAMES = ['Doe', ' SMITH ', 'Müller', 'van der Berg', 'O\'Connor', 'Ñúñez', 'Łukasz', 'Nguyễn']
const CITIES = ['San Francisco', 'new york', ' LOS ANGELES ', 'München', 'São Paulo', 'Menlo Park', 'Saint-Étienne', 'Zürich']
const STATES = ['New York', 'new york', 'CA', 'ca', 'California', ' TEXAS ', 'North Carolina', 'Rhode Island', 'Bavaria', 'NSW', 'washington', 'District of Columbia', 'Georgia']
const COUNTRIES = ['United States', 'united states', 'US', 'us', 'USA', 'Germany', 'United Kingdom', 'GB', 'France', 'Korea', 'Georgia', 'Côte d\'Ivoire', "Cote d'Ivoire", 'Congo, Democratic Republic', 'Virgin Islands, U.S.', 'Guinea-Bissau', 'Timor-Leste', 'Deutschland', 'russian federation']
const ZIPS = ['94107', ' 10001 ', '94107-1234', 'SW1A 1AA', 'sw1a1aa', '75008', 'H0H 0H0', '01234']
const GENDERS = ['Male', 'female', ' F ', 'm', 'M', 'FEMALE', 'non-binary', 'other', 'f', 'MALE ']
const BIRTHDAYS = ['1990-01-15', '19971226', '1985-07-04T00:00:00.000Z', '07/04/1985', 'Jan 5 1990', '2000']
const USER_AGENTS = [
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36',
  'okhttp/4.12.0',
  'MyApp/3.2.1 (iPhone; iOS 17.4; Scale/3.00)'
]
const IPV4 = ['8.8.8.8', '203.0.113.7', '192.168.1.20', '10.0.0.1', '127.0.0.1']
const IPV6 = ['2001:db8::1', '2001:0db8:85a3:0000:0000:8a2e:0370:7334', '::1', 'fe80::1ff:fe23:4567:890a%eth0', '::ffff:192.0.2.128', 'FE80::ABCD']
const CURRENCIES_OK = ['USD', 'EUR', 'GBP', 'JPY', 'CAD', 'AUD', 'INR', 'BRL']
const CURRENCIES_ODD = ['usd', 'eur', 'Usd', ' USD ', 'US$', 'DOLLARS', 'XYZ', '', '   ', 'btc', 'chf']
const PRODUCT_CATEGORIES = ['Games', 'Apparel', 'Home & Garden', 'Books', '', 'Électronique']
const BRANDS = ['Hasbro', 'Mattel', 'ACME', 'Nike', '']

// ---------------------------------------------------------------------------------------------
// Value builders
function emailValue(r) {
  return r.weighted([
    [14, () => r.pick(EMAILS)],
    [2, () => r.pick(SHA_LOWER)],
    [2, () => r.pick(SHA_UPPER)],
    [1, () => r.pick(SHA_LOWER).slice(0, 63)], // almost a digest: must be hashed
    [0.5, ''],
    [0.5, '   '],
    [0.6, () => r.int(1, 99999)], // number
    [0.3, () => ({ address: 'jane@example.com' })], // object
    [0.3, () => ['jane@example.com']], // array
    [0.2, true],
    [0.3, null]
  ])
}

function phoneValue(r) {
  return r.weighted([
    [12, () => r.pick(PHONES)],
    [4, () => r.pick(PHONE_NUMBERS)], // phone given as a JSON number
    [2, () => r.pick(SHA_LOWER)],
    [2, () => r.pick(SHA_UPPER)],
    [1, () => r.pick(PHONES_EMPTY_AFTER_CLEANING)],
    [0.5, ''],
    [0.3, () => ['+1 415 555 0123']],
    [0.3, null],
    [0.2, false]
  ])
}

function maybeOdd(r, good, p = 0.03) {
  if (!r.chance(p)) return good()
  return r.weighted([
    [3, () => r.int(0, 1000)],
    [1, ''],
    [1, null],
    [1, () => ({ v: 'x' })],
    [1, () => ['a', 'b']],
    [1, true]
  ])
}

function timestampValue(r) {
  const base = Date.UTC(2024, 2, 5, 12, 34, 56, 789) + r.int(-3 * 86400, 3 * 86400) * 1000 + r.int(0, 999)
  const iso = new Date(base).toISOString()
  return r.weighted([
    [30, iso],
    [4, iso.replace(/\.\d{3}Z$/, 'Z')],
    [3, iso.replace('Z', '+02:00')],
    [2, iso.replace('Z', '-0530')],
    [2, iso.slice(0, 10)], // date only
    [2, iso.replace('T', ' ').replace('Z', '')], // space separated, no zone
    [1, iso.slice(0, 19)], // no zone
    [2, new Date(base).toUTCString()], // RFC 1123
    [1, () => new Date(base).toString()],
    [1, 'March 5, 2024 10:00:00'],
    [4, base], // epoch ms as number
    [2, String(base)], // epoch ms as string
    [2, Math.floor(base / 1000)], // epoch seconds
    [1, String(Math.floor(base / 1000))],
    [1, base + 0.5], // fractional ms
    [1, 'not a date'],
    [0.5, ''],
    [0.5, '   '],
    [1, '12'],
    [1, '2024'],
    [1, '2024-13-45T99:00:00Z'],
    [1, ` ${iso} `],
    [1, -1],
    [1, 0],
    [1, 1e21],
    [0.5, null],
    [0.3, true],
    [0.3, () => ({ seconds: 1709642096 })],
    [0.3, () => [iso]],
    [1.5, undefined] // missing
  ])
}

function messageIdValue(r) {
  return r.weighted([
    [40, () => `msg-${r.uuid()}`],
    [4, () => r.uuid().toUpperCase()],
    [4, undefined],
    [1, ''],
    [1, '   '],
    [1, () => r.int(1, 1e9)],
    [1, null],
    [0.2, () => ({ id: 1 })]
  ])
}

function productsValue(r) {
  if (r.chance(0.06)) {
    return r.weighted([
      [1, 'not-an-array'],
      [1, () => ({ product_id: 'p-1' })], // single object
      [1, []],
      [1, null],
      [1, 42]
    ])
  }
  const n = r.int(1, 4)
  const out = []
  for (let i = 0; i < n; i++) {
    if (r.chance(0.05)) {
      out.push(r.pick([null, 'p-string', 7, []]))
      continue
    }
    const p = {}
    if (r.chance(0.85)) {
      p.product_id = r.weighted([
        [8, () => `SKU-${r.int(100, 999)}`],
        [2, () => r.int(1, 99999)], // numeric id
        [1, ''],
        [1, null],
        [0.5, () => ({ id: 1 })],
        [0.5, () => ['a']]
      ])
    }
    if (r.chance(0.2)) p.sku = `sku-${r.int(1, 99)}`
    if (r.chance(0.7)) p.category = r.chance(0.9) ? r.pick(PRODUCT_CATEGORIES) : r.pick([3, null, ['x']])
    if (r.chance(0.6)) p.brand = r.chance(0.9) ? r.pick(BRANDS) : r.pick([5, null])
    if (r.chance(0.6)) p.price = r.chance(0.9) ? r.int(100, 99999) / 100 : r.pick(['12.99', null])
    if (r.chance(0.5)) p.quantity = r.chance(0.9) ? r.int(1, 5) : '2'
    if (r.chance(0.3)) p.name = r.pick(['Monopoly', 'Uno', 'Lego Set'])
    out.push(p)
  }
  return out
}

function moneyFields(r, props) {
  const revenueKind = r.weighted([
    [5, 'revenue'],
    [3, 'total'],
    [2, 'both'],
    [1, 'value'],
    [3, 'none']
  ])
  const amount = () =>
    r.weighted([
      [14, () => r.int(0, 100000) / 100],
      [2, () => r.int(1, 500)],
      [2, () => String(r.int(1, 9999) / 100)], // numeric string
      [0.5, ''],
      [0.5, 'abc'],
      [0.5, '12,50'],
      [0.5, null],
      [1, -5],
      [0.2, () => ({ amount: 1 })],
      [0.3, () => [9.99]],
      [0.3, true]
    ])
  if (revenueKind === 'revenue' || revenueKind === 'both') props.revenue = amount()
  if (revenueKind === 'total' || revenueKind === 'both') props.total = amount()
  if (revenueKind === 'value') props.value = amount()
  if (r.chance(0.75)) {
    props.currency = r.weighted([
      [8, () => r.pick(CURRENCIES_OK)],
      [2, () => r.pick(CURRENCIES_ODD)],
      [0.5, 840],
      [0.5, null],
      [0.3, () => ['USD']]
    ])
  }
}

function addressValue(r) {
  const a = {}
  if (r.chance(0.7)) a.city = maybeOdd(r, () => r.pick(CITIES))
  if (r.chance(0.7)) a.state = maybeOdd(r, () => r.pick(STATES))
  if (r.chance(0.7)) a.country = maybeOdd(r, () => r.pick(COUNTRIES))
  if (r.chance(0.7)) a.postalCode = r.chance(0.9) ? r.pick(ZIPS) : r.pick([94107, 10001, null])
  if (r.chance(0.2)) a.street = '1 Main St'
  return a
}

// ---------------------------------------------------------------------------------------------
// Contexts
function webContext(r) {
  const c = {}
  if (r.chance(0.85)) {
    c.ip = r.weighted([
      [6, () => r.pick(IPV4)],
      [3, () => r.pick(IPV6)],
      [0.5, ''],
      [0.5, 'not-an-ip'],
      [0.3, 12345]
    ])
  }
  if (r.chance(0.85)) c.userAgent = r.chance(0.95) ? r.pick(USER_AGENTS) : r.pick(['', 42])
  if (r.chance(0.8)) {
    const path = r.pick(['/', '/products/42', '/checkout', '/search'])
    c.page = {
      path,
      url: r.weighted([
        [8, `https://shop.example.com${path}?utm_source=snap`],
        [1, `https://shop.example.com${path}?ScCid=abc-123&x=%20y`],
        [1, 'https://例え.jp/パス?q=ü'],
        [0.5, ''],
        [0.3, 7]
      ]),
      referrer: r.pick(['', 'https://www.snapchat.com/', 'https://google.com/']),
      title: r.pick(['Shop', 'Checkout', 'Produkt Übersicht'])
    }
  }
  if (r.chance(0.5)) c.locale = r.pick(['en-US', 'de-DE', 'fr_FR', 'ja'])
  if (r.chance(0.4)) c.timezone = r.pick(['America/New_York', 'Europe/Berlin', 'Asia/Tokyo'])
  if (r.chance(0.6)) c.library = { name: 'analytics.js', version: 'next-1.70.0' }
  return c
}

function mobileContext(r) {
  const ios = r.chance(0.5)
  const c = {
    app: {
      name: 'Example',
      version: r.chance(0.9) ? r.pick(['3.2.1', '10.0', '1.0.0-beta.2']) : r.pick([3.2, 10]),
      build: r.chance(0.8) ? String(r.int(100, 9999)) : r.int(100, 9999),
      namespace: ios ? 'com.example.ios' : 'com.example.android'
    },
    device: {
      manufacturer: ios ? 'Apple' : r.pick(['Google', 'samsung', 'OnePlus']),
      model: ios ? r.pick(['iPhone15,2', 'iPad13,1']) : r.pick(['Pixel 8', 'SM-S918B', 'OnePlus6']),
      type: ios ? 'ios' : 'android'
    },
    os: { name: ios ? 'iOS' : 'Android', version: r.chance(0.9) ? r.pick(['17.4.1', '14', '13.0']) : r.pick([17, 14.1]) },
    library: { name: ios ? 'analytics-ios' : 'analytics-android', version: '4.1.5' }
  }
  if (r.chance(0.8)) {
    c.device.advertisingId = r.weighted([
      [4, () => r.uuid().toUpperCase()],
      [4, () => r.uuid()],
      [1, '00000000-0000-0000-0000-000000000000'],
      [0.5, ''],
      [0.3, 123456]
    ])
  }
  if (r.chance(0.7)) c.device.id = r.chance(0.9) ? r.uuid().toUpperCase() : r.pick(['', 99])
  if (r.chance(0.7)) c.device.adTrackingEnabled = r.weighted([[6, true], [3, false], [0.5, 'true'], [0.5, 'false'], [0.3, 1], [0.3, 0], [0.2, null]])
  if (r.chance(0.8)) {
    c.screen = {
      width: r.chance(0.9) ? r.pick([1170, 1080, 2048]) : '1080',
      height: r.chance(0.9) ? r.pick([2532, 2400, 2732]) : '2400',
      density: r.chance(0.9) ? r.pick([3, 2.625, 2, 1.5]) : '3.0'
    }
  }
  if (r.chance(0.6)) c.network = { carrier: r.pick(['T-Mobile', 'Verizon', 'Vodafone DE', '']), wifi: r.chance(0.5) }
  if (r.chance(0.7)) c.locale = r.pick(['en-US', 'de-DE', 'fr_FR'])
  if (r.chance(0.6)) c.timezone = r.pick(['America/Los_Angeles', 'Europe/Berlin', 'USA/New York'])
  if (r.chance(0.6)) c.ip = r.chance(0.6) ? r.pick(IPV4) : r.pick(IPV6)
  if (r.chance(0.5)) c.userAgent = r.pick(USER_AGENTS.slice(3))
  return c
}

// ---------------------------------------------------------------------------------------------
// Event builder
function buildTraitsInto(r, target, props, isIdentify) {
  // Email/phone: properties.* or root traits.* (the default mapping reads those two)
  const where = () => r.weighted([[5, 'properties'], [3, 'traits'], [1, 'both'], [3, 'none']])
  const ew = where()
  if (ew === 'properties' || ew === 'both') props.email = emailValue(r)
  if (ew === 'traits' || ew === 'both' || (isIdentify && r.chance(0.5))) {
    target.traits = target.traits || {}
    target.traits.email = emailValue(r)
  }
  const pw = where()
  if (pw === 'properties' || pw === 'both') props.phone = phoneValue(r)
  if (pw === 'traits' || pw === 'both') {
    target.traits = target.traits || {}
    target.traits.phone = phoneValue(r)
  }
  // Names, gender, birthday, address: context.traits.* or properties.*
  const ctxTraits = {}
  const put = (key, val) => {
    const w = r.weighted([[4, 'ctx'], [3, 'props'], [1, 'both'], [4, 'none']])
    if (w === 'ctx' || w === 'both') ctxTraits[key] = val()
    if (w === 'props' || w === 'both') props[key] = val()
  }
  put('first_name', () => maybeOdd(r, () => r.pick(FIRST_NAMES)))
  put('last_name', () => maybeOdd(r, () => r.pick(LAST_NAMES)))
  put('gender', () => maybeOdd(r, () => r.pick(GENDERS)))
  put('birthday', () => maybeOdd(r, () => r.pick(BIRTHDAYS)))
  put('address', () => (r.chance(0.95) ? addressValue(r) : r.pick(['1 Main St, NYC', null])))
  if (r.chance(0.1)) ctxTraits.email = r.pick(EMAILS) // not read by the default mapping
  return ctxTraits
}

function buildEvent(r, i) {
  // Shape kind
  const kind = r.weighted([
    [80, 'preset-track'],
    [9, 'page'],
    [9, 'non-matching'],
    [2, 'weird']
  ])

  if (kind === 'weird') {
    return r.weighted([
      [1, null],
      [1, 42],
      [1, 'str'],
      [1, () => []],
      [1, () => ({})],
      [1, true],
      [1, () => ({ type: 'track' })],
      [1, () => ({ event: 'Order Completed' })], // no type: still matches event = "..."
      [1, () => ({ type: 'track', event: 'Order Completed', properties: 'oops', context: 'ctx' })],
      [1, () => ({ type: 'track', event: 'Order Completed', properties: ['a'], messageId: `w-${i}`, context: { ip: '8.8.8.8', userAgent: 'UA' } })],
      [1, () => ({ type: 'track', event: 42, messageId: `w-${i}` })],
      [1, () => ({ type: 'page', properties: null, context: null, messageId: `w-${i}` })]
    ])
  }

  const e = {}
  const mobile = r.chance(0.35)
  let eventName
  if (kind === 'preset-track') {
    eventName = mobile && r.chance(0.4) ? r.pick(['Application Installed', 'Application Opened']) : r.pick(PRESET_TRACK_EVENTS)
    e.type = r.weighted([[30, 'track'], [1, 'TRACK'], [1, undefined], [1, 'identify']])
    e.event = eventName
  } else if (kind === 'page') {
    e.type = 'page'
    if (r.chance(0.7)) e.name = r.pick(['Home', 'Product', 'Checkout', ''])
    if (r.chance(0.1)) e.event = r.pick(['Order Completed', 'Signed Up']) // page with an event name: two presets
  } else {
    e.type = r.weighted([[6, 'track'], [2, 'identify'], [1, 'screen'], [1, 'group'], [1, 'alias'], [1, 'Page'], [0.5, 42]])
    if (e.type === 'track') e.event = r.pick(NON_MATCHING_TRACK_EVENTS)
    if (e.type === 'screen') e.name = 'Home'
  }

  const mid = messageIdValue(r)
  if (mid !== undefined) e.messageId = mid
  const ts = timestampValue(r)
  if (ts !== undefined) e.timestamp = ts
  if (r.chance(0.3)) e.sentAt = new Date(Date.UTC(2024, 2, 5)).toISOString()
  if (r.chance(0.3)) e.receivedAt = new Date(Date.UTC(2024, 2, 5, 0, 0, 1)).toISOString()

  // Identity
  const idKind = r.weighted([[6, 'string'], [1, 'number'], [2, 'anon-only'], [0.5, 'empty'], [0.3, 'none'], [0.12, 'object']])
  if (idKind === 'string') e.userId = r.pick(['user-1', 'USER 2', 'u_3@example.com', ' padded ', 'ü-4'])
  if (idKind === 'number') e.userId = r.pick([12345, 0, 9007199254740993, 1.5])
  if (idKind === 'empty') e.userId = ''
  if (idKind === 'object') e.userId = { id: 7 }
  if (idKind !== 'none' && r.chance(0.7)) e.anonymousId = r.chance(0.95) ? r.uuid() : r.pick(['', 77])

  // Context + properties
  const context = mobile ? mobileContext(r) : webContext(r)
  const props = {}
  const ctxTraits = buildTraitsInto(r, e, props, e.type === 'identify')
  if (Object.keys(ctxTraits).length) context.traits = ctxTraits

  // Event specific properties
  const withProducts = ['Order Completed', 'Checkout Started', 'Product List Viewed', 'Payment Info Entered'].includes(eventName)
  const singleProduct = ['Product Added', 'Product Viewed', 'Product Added to Wishlist', 'Product Shared'].includes(eventName)
  if (withProducts ? r.chance(0.8) : r.chance(0.1)) props.products = productsValue(r)
  if (singleProduct) {
    if (r.chance(0.8)) props.product_id = r.chance(0.9) ? `SKU-${r.int(100, 999)}` : r.int(1, 999)
    if (r.chance(0.6)) props.category = r.pick(PRODUCT_CATEGORIES)
    if (r.chance(0.5)) props.brand = r.pick(BRANDS)
    if (r.chance(0.5)) props.price = r.int(100, 9999) / 100
  }
  if (withProducts || singleProduct || r.chance(0.15)) moneyFields(r, props)
  if (r.chance(withProducts ? 0.6 : 0.1)) props.quantity = r.weighted([[10, () => r.int(1, 20)], [1, '3'], [0.5, 2.5], [0.5, 'many'], [0.5, null]])
  if (eventName === 'Order Completed' || eventName === 'Checkout Started' || r.chance(0.05)) {
    if (r.chance(0.85)) props.order_id = r.weighted([[6, () => `ORD-${r.int(1000, 9999)}`], [2, () => r.int(1000, 99999)], [1, ''], [1, '  ']])
  }
  if (eventName === 'Products Searched' || r.chance(0.03)) {
    if (r.chance(0.9)) props.query = r.weighted([[6, 'blue shoes'], [1, ''], [1, '  spaced  '], [1, 123], [0.5, ['a']]])
  }
  if (eventName === 'Signed Up' && r.chance(0.5)) props.method = 'email'
  if (kind === 'page' && r.chance(0.5)) {
    props.url = 'https://shop.example.com/landing'
    props.path = '/landing'
  }

  e.context = context
  e.properties = props

  // Snap specific integrations options
  const integ = r.weighted([[5, 'none'], [4, 'snap'], [1, 'all'], [0.5, 'bool'], [0.5, 'partial']])
  if (integ === 'snap') {
    e.integrations = {
      'Snap Conversions Api': {
        click_id: r.chance(0.95) ? r.pick(['ScCid-abc123', 'cliasdfck_id', '  spaced  ', '']) : 555,
        uuid_c1: r.chance(0.95) ? r.uuid() : ''
      }
    }
  } else if (integ === 'all') e.integrations = { All: true }
  else if (integ === 'bool') e.integrations = { 'Snap Conversions Api': true }
  else if (integ === 'partial') e.integrations = { 'Snap Conversions Api': { click_id: 'only-click' } }

  // Occasional structural damage
  if (r.chance(0.015)) e.properties = r.pick(['a string', 5, null, ['x']])
  if (r.chance(0.01)) e.context = r.pick(['ctx', null, 3])
  if (r.chance(0.01)) e.traits = 'trait-string'

  return JSON.parse(JSON.stringify(e))
}

export function generateEvents(n = 3000, seed = resolveSeed()) {
  const r = makeRng(seed)
  const events = []
  // Guarantee coverage: one clean event for every preset trigger first.
  for (const name of PRESET_TRACK_EVENTS) {
    events.push({
      type: 'track',
      event: name,
      messageId: `cover-${name.replace(/\s+/g, '-').toLowerCase()}`,
      timestamp: '2024-03-05T12:34:56.789Z',
      userId: 'user-cover',
      context: { ip: '203.0.113.7', userAgent: USER_AGENTS[0], page: { url: 'https://shop.example.com/' } },
      properties: { email: 'Cover@Example.com', currency: 'USD', revenue: 10 }
    })
  }
  events.push({
    type: 'page',
    name: 'Home',
    messageId: 'cover-page',
    timestamp: '2024-03-05T12:34:56.789Z',
    anonymousId: 'anon-cover',
    context: { ip: '2001:db8::1', userAgent: USER_AGENTS[1], page: { url: 'https://shop.example.com/' } },
    properties: {}
  })
  for (let i = events.length; i < n; i++) events.push(buildEvent(r, i))
  return events.slice(0, n)
}

// CLI
if (import.meta.url === `file://${process.argv[1]}`) {
  const n = Number(process.argv[2] || process.env.DIFF_N || 100)
  const seed = resolveSeed()
  process.stderr.write(`generate: seed=${seed} n=${n} (replay with DIFF_SEED=${seed})\n`)
  for (const e of generateEvents(n, seed)) process.stdout.write(JSON.stringify(e) + '\n')
}
