// Shared fixtures for the Node tests, the CLI tests and the demo.
import { createHash } from 'node:crypto'

export const sha256 = (s) => createHash('sha256').update(s).digest('hex')

export const TOKEN = 'tok_SECRET-abc123'
export const SETTINGS = Object.freeze({ pixel_id: 'px-123', snap_app_id: 'snap-app-456', app_id: 'com.example.app', access_token: TOKEN })
export const DESTINATION = 'snap-conversions-api'
export const UA_WEB = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36'
export const UA_APP = 'Example/3.2.1 (iPhone; iOS 17.4; Scale/3.00)'

// The raw PII used in ORDER_COMPLETED, and the normalized (still unhashed) forms. Neither may
// ever reach the wire.
export const RAW_PII = ['  Jane.Doe@Example.COM ', 'Jane.Doe@Example.COM', '+1 (415) 555-0123', 'Jane', 'Doe', 'San Francisco', 'California', 'United States', '94107', '1990-01-15', 'Female']
export const NORMALIZED_PII = ['jane.doe@example.com', '14155550123', '4155550123', 'sanfrancisco', 'california', 'unitedstates', 'female']

export const ORDER_COMPLETED = Object.freeze({
  type: 'track',
  event: 'Order Completed',
  messageId: 'msg-order-1',
  timestamp: '2024-03-05T12:34:56.789Z',
  userId: 'user-42',
  anonymousId: 'anon-42',
  context: {
    ip: '203.0.113.7',
    userAgent: UA_WEB,
    page: { url: 'https://shop.example.com/checkout?step=3', path: '/checkout' },
    traits: {
      first_name: ' Jane ',
      last_name: 'Doe',
      gender: 'Female',
      birthday: '1990-01-15',
      address: { city: 'San Francisco', state: 'California', country: 'United States', postalCode: '94107' }
    }
  },
  properties: {
    email: '  Jane.Doe@Example.COM ',
    phone: '+1 (415) 555-0123',
    revenue: 42.5,
    currency: 'usd',
    order_id: 'ORD-1',
    quantity: 3,
    products: [
      { product_id: 'SKU-1', category: 'Games', brand: 'Hasbro', price: 20 },
      { product_id: 'SKU-2', category: 'Toys', brand: 'Mattel', price: 22.5 }
    ]
  },
  integrations: { 'Snap Conversions Api': { click_id: 'click-xyz', uuid_c1: 'cookie-123' } }
})

// What Snap's v3 format (and Segment's destination) make of ORDER_COMPLETED.
export const ORDER_COMPLETED_SNAP_EVENT = Object.freeze({
  integration: 'segment',
  event_id: 'msg-order-1',
  event_name: 'PURCHASE',
  event_source_url: 'https://shop.example.com/checkout?step=3',
  event_time: Date.UTC(2024, 2, 5, 12, 34, 56, 789),
  action_source: 'website',
  user_data: {
    client_ip_address: '203.0.113.7',
    client_user_agent: UA_WEB,
    em: [sha256('jane.doe@example.com')],
    ph: [sha256('14155550123')],
    fn: sha256('jane'),
    ln: sha256('doe'),
    ge: sha256('f'),
    db: sha256('1990-01-15'),
    ct: sha256('sanfrancisco'),
    st: sha256('ca'),
    country: sha256('us'),
    zp: sha256('94107'),
    external_id: [sha256('user-42')],
    sc_click_id: 'click-xyz',
    sc_cookie1: 'cookie-123'
  },
  custom_data: {
    currency: 'USD',
    value: 42.5,
    order_id: 'ORD-1',
    num_items: 3,
    content_ids: ['SKU-1', 'SKU-2'],
    content_category: ['Games', 'Toys'],
    brands: ['Hasbro', 'Mattel']
  }
})

export function webEvent(event, messageId, extra = {}) {
  return {
    type: 'track',
    event,
    messageId,
    timestamp: '2024-03-05T12:34:56.789Z',
    userId: `user-${messageId}`,
    context: { ip: '198.51.100.4', userAgent: UA_WEB, page: { url: 'https://shop.example.com/' } },
    properties: { email: `${messageId}@example.com`, currency: 'USD', revenue: 10 },
    ...extra
  }
}

export function appEvent(event, messageId, extra = {}) {
  return {
    type: 'track',
    event,
    messageId,
    timestamp: '2024-03-05T12:34:56.789Z',
    anonymousId: `anon-${messageId}`,
    context: {
      app: { name: 'Example', version: '3.2.1', build: '321', namespace: 'com.example.app' },
      device: { advertisingId: '6D92078A-8246-4BA4-AE5B-76104861E7DC', adTrackingEnabled: true, model: 'iPhone15,2', id: 'B5372DB0-C21E-11E4-8DFC-AA07A5B093DB' },
      os: { name: 'iOS', version: '17.4.1' },
      screen: { width: 1170, height: 2532, density: 3 },
      network: { carrier: 'T-Mobile' },
      locale: 'en-US',
      timezone: 'America/Los_Angeles',
      ip: '2001:db8::1',
      userAgent: UA_APP
    },
    properties: {},
    ...extra
  }
}

// A subscription for app events (action_source 'app' -> snap_app_id URL). Mapping = the action's
// defaults plus event_name/action_source, the way Segment's presets are built.
export function appSubscription(defaults, extra = {}) {
  return {
    name: 'App Open (app)',
    subscribe: 'event = "Application Opened" or event = "Application Installed"',
    partnerAction: 'reportConversionEvent',
    mapping: { ...defaults, event_name: 'APP_OPEN', action_source: 'app' },
    enabled: true,
    ...extra
  }
}
