// Audience sync end to end: dest.send() against a local, stateful mock of the Snap Marketing
// API and Braze (tests/support/mock-audiences.mjs), with 401 / 429 / 5xx faults. What counts
// is what the audience holds afterwards.
//   node --test tests/node/audiences.test.mjs
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'

import { startMockAudiences, SNAP_REFRESH_TOKEN, SNAP_CLIENT_SECRET, BRAZE_CLIENT_SECRET, BRAZE_API_KEY } from '../support/mock-audiences.mjs'
import { loadPkg, pkgAvailable, PKG_MISSING_REASON } from '../support/load-pkg.mjs'

const skip = pkgAvailable() ? false : PKG_MISSING_REASON
const sha256 = (s) => createHash('sha256').update(s).digest('hex')
const FAST = { baseDelayMs: 1, maxDelayMs: 5 }

let pkg
let mock
before(async () => {
  pkg = await loadPkg()
  mock = await startMockAudiences()
})
after(async () => mock?.close())

function engage(id, audience, member, props = {}, extra = {}) {
  return {
    type: 'track',
    event: member ? 'Audience Entered' : 'Audience Exited',
    messageId: id,
    userId: `user-${id}`,
    timestamp: '2024-03-01T12:00:00.000Z',
    properties: { [audience.key]: member, ...props },
    context: { personas: { computation_key: audience.key, computation_id: audience.id, computation_class: 'audience', space_id: 'spa_1', external_audience_id: audience.snap } },
    ...extra
  }
}

const RECENT = { key: 'recent_purchasers', id: 'aud_recent', snap: '555' }

function snapDest(settings = {}) {
  return pkg.createDestination({
    destination: 'snap-audiences',
    baseUrl: mock.url,
    settings: { ad_account_id: 'acc-1', access_token: mock.accessToken, refresh_token: SNAP_REFRESH_TOKEN, client_id: 'cid', client_secret: SNAP_CLIENT_SECRET, batch_size: 1000, ...settings }
  })
}

const emailKey = (e) => `EMAIL_SHA256:${sha256(e)}`

describe('Snapchat Custom Audiences', { skip }, () => {
  test('entries add, exits remove, replays change nothing, removing a non-member is success', async () => {
    const dest = snapDest()
    const events = [
      engage('a', RECENT, true, { email: ' Ann@Example.com ' }),
      engage('b', RECENT, true, { email: 'bob@example.com', phone: '+1 (415) 555-0100' }),
      engage('c', RECENT, true, { email: 'cy@example.com' }),
      engage('c2', RECENT, false, { email: 'cy@example.com' }),
      engage('d', RECENT, false, { email: 'never-a-member@example.com' })
    ]
    const first = await dest.send(events, FAST)
    assert.deepEqual(first.map((r) => r.delivered), [true, true, true, true, true])
    const expected = new Set([emailKey('ann@example.com'), emailKey('bob@example.com'), `PHONE_SHA256:${sha256('14155550100')}`])
    assert.deepEqual(mock.snapMembers('555'), expected)
    // The same events again (at-least-once delivery): same audience, all delivered.
    const again = await dest.send(events, FAST)
    assert.ok(again.every((r) => r.delivered))
    assert.deepEqual(mock.snapMembers('555'), expected)
    // No raw PII went out.
    const sent = mock.requests.map((r) => r.raw).join('\n')
    for (const pii of ['Ann@Example.com', 'ann@example.com', '555-0100', '14155550100']) assert.ok(!sent.includes(pii), pii)
    dest.free()
  })

  test('batch_size: 1 gives Segment\'s one-event calls and the same end state', async () => {
    const dest = snapDest({ batch_size: 1 })
    const audience = { ...RECENT, snap: '556' }
    const before = mock.requests.length
    const out = await dest.send([engage('a', audience, true, { email: 'x@example.com', phone: '0044 20 7946 0958' }), engage('b', audience, false, { email: 'x@example.com' })], { ...FAST, concurrency: 1 })
    assert.ok(out.every((r) => r.delivered))
    const calls = mock.requests.slice(before).map((r) => `${r.method} ${JSON.parse(r.raw).users[0].schema[0]}`)
    assert.deepEqual(calls, ['POST EMAIL_SHA256', 'POST PHONE_SHA256', 'DELETE EMAIL_SHA256'])
    assert.deepEqual(mock.snapMembers('556'), new Set([`PHONE_SHA256:${sha256('442079460958')}`]))
    dest.free()
  })

  test('429 and 5xx are retried, then the audience is current', async () => {
    const dest = snapDest()
    const audience = { ...RECENT, snap: '557' }
    mock.fault('/v1/segments/557/users', { status: 429, headers: { 'retry-after': '0' } }, { status: 503 })
    const [r] = await dest.send([engage('a', audience, true, { email: 'z@example.com' })], FAST)
    assert.equal(r.delivered, true)
    assert.equal(r.attempts, 3)
    assert.deepEqual(mock.snapMembers('557'), new Set([emailKey('z@example.com')]))
    mock.fault('/v1/segments/557/users', { status: 500 }, { status: 500 })
    const [failed] = await dest.send([engage('b', audience, true, { email: 'w@example.com' })], { ...FAST, maxAttempts: 2 })
    assert.deepEqual([failed.delivered, failed.status, failed.error.retryable], [false, 500, true])
    dest.free()
  })

  test('an expired access token is refreshed once; a revoked refresh token is a permanent error', async () => {
    const dest = snapDest()
    mock.expireToken()
    const audience = { ...RECENT, snap: '558' }
    const out = await dest.send([engage('a', audience, true, { email: 'r1@example.com' }), engage('b', audience, true, { email: 'r2@example.com' })], FAST)
    assert.ok(out.every((r) => r.delivered), JSON.stringify(out))
    assert.equal(mock.requests.filter((r) => r.path === '/login/oauth2/access_token').length, 1)
    assert.equal(mock.snapMembers('558').size, 2)

    mock.expireToken()
    mock.revokeRefreshToken()
    const [r] = await dest.send([engage('c', audience, true, { email: 'r3@example.com' })], FAST)
    assert.deepEqual([r.delivered, r.status, r.error.retryable], [false, 401, false])
    assert.match(r.error.message, /refresh token is revoked or expired/)
    const text = JSON.stringify(out) + JSON.stringify(r)
    for (const secret of [SNAP_REFRESH_TOKEN, SNAP_CLIENT_SECRET, 'snap-access-']) assert.ok(!text.includes(secret), secret)
    dest.free()
  })

  test('a lookalike is created from a synced seed segment', async () => {
    // The seed: a first-party segment the mock knows.
    mock.segments.set('seed-1', { spec: null, members: new Set() })
    mock.tokens.add('lookalike-token')
    const dest = pkg.createDestination({
      destination: 'snap-audiences',
      baseUrl: mock.url,
      settings: { ad_account_id: 'acc-1', access_token: 'lookalike-token', batch_size: 10 },
      subscriptions: [{ name: 'High-LTV lookalike', subscribe: 'event = "Audience Entered"', partnerAction: 'createLookalike', mapping: { seed_segment_id: 'seed-1', name: 'High LTV lookalike', countries: ['US', 'GB'], type: 'REACH' } }]
    })
    const [r] = await dest.send([engage('a', RECENT, true, { email: 'q@example.com' })], FAST)
    assert.equal(r.delivered, true, JSON.stringify(r))
    const created = [...mock.segments.values()].find((s) => s.spec?.source_type === 'LOOKALIKE')
    assert.deepEqual(created.spec.creation_spec, { seed_segment_id: 'seed-1', type: 'REACH', countries: ['US', 'GB'] })
    dest.free()
  })
})

describe('Braze', { skip }, () => {
  const HIGH = { key: 'high_ltv', id: 'aud_high', snap: '1' }
  const cohortSub = {
    name: 'Braze cohort',
    subscribe: 'event = "Audience Entered" or event = "Audience Exited"',
    partnerAction: 'syncAudiences',
    mapping: {
      external_id: { '@path': '$.userId' },
      cohort_id: { '@path': '$.context.personas.computation_id' },
      cohort_name: { '@path': '$.context.personas.computation_key' },
      personas_audience_key: 'high_ltv',
      event_properties: { '@path': '$.properties' },
      time: { '@path': '$.timestamp' }
    }
  }

  test('cohorts: created, then users added and removed; 5xx retried', async () => {
    const dest = pkg.createDestination({ destination: 'braze-cohorts', baseUrl: mock.url, settings: { client_secret: BRAZE_CLIENT_SECRET, endpoint: 'https://rest.iad-01.braze.com', batch_size: 100 }, subscriptions: [cohortSub] })
    mock.fault('/partners/segment/cohorts/users', { status: 502 })
    const out = await dest.send([engage('a', HIGH, true), engage('b', HIGH, true), engage('a2', HIGH, false, {}, { userId: 'user-a' })], FAST)
    assert.ok(out.every((r) => r.delivered), JSON.stringify(out))
    assert.deepEqual(mock.cohort('aud_high'), new Set(['user:user-b']))
    dest.free()
  })

  test('a wrong client secret is a permanent error, not retried', async () => {
    const dest = pkg.createDestination({ destination: 'braze-cohorts', baseUrl: mock.url, settings: { client_secret: 'wrong-SECRET', batch_size: 1 }, subscriptions: [cohortSub] })
    const before = mock.requests.length
    const [r] = await dest.send([engage('x', HIGH, true)], FAST)
    assert.deepEqual([r.delivered, r.status, r.attempts, r.error.retryable], [false, 401, 1, false])
    assert.equal(mock.requests.length - before, 1, 'the update is not sent after the cohort creation failed')
    assert.ok(!JSON.stringify(r).includes('wrong-SECRET'))
    dest.free()
  })

  test('the custom attribute fallback sets a boolean per audience', async () => {
    const dest = pkg.createDestination({
      destination: 'braze-cohorts',
      baseUrl: mock.url,
      settings: { api_key: BRAZE_API_KEY, batch_size: 75 },
      subscriptions: [{ name: 'attribute', subscribe: 'type = "track"', partnerAction: 'syncAudienceAttribute' }]
    })
    mock.fault('/users/track', { status: 429 })
    const out = await dest.send([engage('a', HIGH, true), engage('b', HIGH, true), engage('b2', HIGH, false, {}, { userId: 'user-b' })], FAST)
    assert.ok(out.every((r) => r.delivered), JSON.stringify(out))
    assert.deepEqual(mock.attributes.get('user-a'), { high_ltv: true })
    assert.deepEqual(mock.attributes.get('user-b'), { high_ltv: false })
    const text = JSON.stringify(out)
    assert.ok(!text.includes(BRAZE_API_KEY))
    dest.free()
  })
})

test('the README worked examples run as written (examples/audiences.mjs)', { skip }, async () => {
  const { execFile } = await import('node:child_process')
  const { REPO_ROOT } = await import('../support/load-pkg.mjs')
  const stdout = await new Promise((resolve, reject) =>
    execFile(process.execPath, ['examples/audiences.mjs'], { cwd: REPO_ROOT, timeout: 60000 }, (err, out) => (err ? reject(err) : resolve(out)))
  )
  assert.match(stdout, /sent: p1 delivered=true, p2 delivered=true, p3 delivered=true/)
  assert.match(stdout, /segment 555 now holds 1 hashed email\(s\)/)
  assert.match(stdout, /lookalike created: \{"seed_segment_id":"556","type":"SIMILARITY","countries":\["US","CA"\]\}/)
  // The hashes the README shows for ben@example.com (added) and ana@example.com (removed).
  assert.ok(stdout.includes(sha256('ben@example.com')) && stdout.includes(sha256('ana@example.com')))
  assert.equal(sha256('ben@example.com'), 'f871a76fb7b15231306b634dd91b385c48e9298974308e28e161d845e3e6f060')
})
