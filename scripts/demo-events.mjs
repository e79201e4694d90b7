// The sample Segment events that `make demo` sends (scripts/demo.mjs through the Node API,
// scripts/demo-worker.mjs through the Worker).
const web = (ip = '203.0.113.7') => ({
  ip,
  userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36',
  page: { url: 'https://shop.example.com/products/42?ScCid=abc', path: '/products/42' }
})
const app = {
  app: { name: 'Example', version: '3.2.1', build: '321', namespace: 'com.example.app' },
  device: { advertisingId: '6D92078A-8246-4BA4-AE5B-76104861E7DC', adTrackingEnabled: true, model: 'iPhone15,2' },
  os: { name: 'iOS', version: '17.4.1' },
  screen: { width: 1170, height: 2532, density: 3 },
  ip: '2001:db8::7'
}
const ts = new Date().toISOString()

export const events = [
  { type: 'page', name: 'Product', messageId: 'demo-1', timestamp: ts, anonymousId: 'anon-1', context: web() },
  {
    type: 'track', event: 'Product Viewed', messageId: 'demo-2', timestamp: ts, userId: 'u-1', context: web(),
    properties: { product_id: 'SKU-42', category: 'Games', brand: 'Hasbro', price: 19.99, email: 'Jane.Doe@Example.com' }
  },
  {
    type: 'track', event: 'Product Added', messageId: 'demo-3', timestamp: ts, userId: 'u-1', context: web(),
    properties: { email: 'Jane.Doe@Example.com', currency: 'eur', revenue: 19.99, products: [{ product_id: 'SKU-42', category: 'Games' }] }
  },
  {
    type: 'track', event: 'Order Completed', messageId: 'demo-4', timestamp: ts, userId: 'u-1',
    context: { ...web(), traits: { first_name: 'Jane', last_name: 'Doe', address: { city: 'New York', state: 'New York', country: 'United States', postalCode: '10001' } } },
    properties: {
      email: ' Jane.Doe@Example.com ', phone: '+1 (212) 555-0100', order_id: 'ORD-9', revenue: 59.97, currency: 'USD', quantity: 3,
      products: [{ product_id: 'SKU-42', category: 'Games', brand: 'Hasbro' }, { product_id: 'SKU-7', category: 'Toys', brand: 'Mattel' }]
    },
    integrations: { 'Snap Conversions Api': { click_id: 'ScCid-abc', uuid_c1: 'cookie-1' } }
  },
  { type: 'track', event: 'Application Installed', messageId: 'demo-5', timestamp: ts, anonymousId: 'anon-2', context: app, properties: {} },
  { type: 'track', event: 'Application Opened', messageId: 'demo-6', timestamp: ts, userId: 'u-2', context: app, properties: { phone: 4915112345678 } },
  { type: 'track', event: 'Products Searched', messageId: 'demo-7', timestamp: ts, userId: 'u-3', context: web('198.51.100.9'), properties: { query: 'blue shoes' } },
  // rejected: not a currency Snap accepts
  { type: 'track', event: 'Order Completed', messageId: 'demo-8', timestamp: ts, userId: 'u-4', context: web(), properties: { email: 'x@example.com', revenue: 5, currency: 'DOLLARS' } },
  // not subscribed
  { type: 'identify', messageId: 'demo-9', userId: 'u-5', traits: { email: 'y@example.com' } }
]


// Braze (second part of `make demo`): a user identified, an event, an order of two products,
// and the anonymous -> known transition (alias, then identify).
export const brazeEvents = [
  {
    type: 'identify', messageId: 'bz-1', timestamp: ts, receivedAt: ts, userId: 'u-1', anonymousId: 'anon-1',
    traits: { email: 'jane@example.com', firstName: 'Jane', lastName: 'Doe', gender: 'female', plan: 'pro', address: { city: 'Berlin' } }
  },
  { type: 'track', event: 'Song Played', messageId: 'bz-2', timestamp: ts, receivedAt: ts, userId: 'u-1', properties: { title: 'Blue', seconds: 212 } },
  {
    type: 'track', event: 'Order Completed', messageId: 'bz-3', timestamp: ts, receivedAt: ts, userId: 'u-1',
    properties: {
      order_id: 'ORD-7', total: 45, currency: 'EUR', source: 'web', order_status_url: 'https://shop.example.com/o/7',
      products: [
        { product_id: 'SKU-1', name: 'Shoe', variant: 'red', price: 30, quantity: 1 },
        { product_id: 'SKU-2', name: 'Sock', variant: 'L', price: 15, quantity: 1 }
      ]
    }
  },
  { type: 'alias', messageId: 'bz-4', timestamp: ts, userId: 'u-1', previousId: 'anon-1' }
]
