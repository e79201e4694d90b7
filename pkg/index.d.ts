// Types for edge-actions (same API from every runtime entry).

export type ErrorCode =
  | 'INVALID_EVENT'
  | 'INVALID_CONFIG'
  | 'MAPPING_ERROR'
  | 'PAYLOAD_VALIDATION'
  | 'MISCONFIGURED_FIELD'
  | 'CONSENT_DENIED'
  | 'HTTP_ERROR'
  | 'NETWORK_ERROR'
  | 'TIMEOUT'

/** Thrown for bad options, bad subscriptions, invalid FQL or mappings. */
export declare class EdgeActionsError extends Error {
  name: 'EdgeActionsError'
  code: ErrorCode
  /** The setting, subscription field, mapping path or event field at fault. */
  field?: string
}

/** A subscription in the shape Segment's Public API returns. */
export interface Subscription {
  name?: string
  /** FQL trigger, e.g. `type = "track" and event = "Order Completed"`. `trigger` is accepted too. */
  subscribe?: string
  trigger?: string
  /** Action name, e.g. `reportConversionEvent`. The Public API's `actionSlug` is accepted too. */
  partnerAction?: string
  actionSlug?: string
  actionId?: string
  /** mapping-kit field mapping. `fields` and the Public API's `settings` are accepted too. Absent: the action's defaults. */
  mapping?: Record<string, unknown>
  fields?: Record<string, unknown>
  settings?: Record<string, unknown>
  /** `false` disables the subscription. */
  enabled?: boolean
}

export interface SnapConversionsSettings {
  pixel_id?: string
  snap_app_id?: string
  app_id?: string
  access_token?: string
  /** Send to /v3/{id}/events/validate: Snap checks payloads and records nothing. */
  test_mode?: boolean
  /** Events per request (1 = Segment's behaviour; up to 2000). */
  batch_size?: number
  /** Consent categories that must all be granted in context.consent.categoryPreferences. */
  consent_categories?: string[] | string
}

export interface BrazeSettings {
  /** Braze REST API key (never shown in plans, results or errors). */
  api_key: string
  /** Braze REST endpoint of your cluster, e.g. https://rest.iad-01.braze.com (default) ...
   * https://rest.fra-02.braze.eu, or a custom URL. */
  endpoint?: string
  /** App identifier sent with events and purchases. */
  app_id?: string
  /** Events per request (1 = Segment's single-event path; up to 75). A /users/track request
   * also never carries more than 75 objects (attributes + events + purchases; an order is one
   * purchase per product); alias / identify requests at most 50. */
  batch_size?: number
  consent_categories?: string[] | string
}

export interface DestinationOptions {
  destination:
    | 'snap-conversions-api'
    | 'actions-snap-conversions'
    | 'braze'
    | 'actions-braze-cloud'
    | 'snap-audiences'
    | 'actions-snap-audiences'
    | 'braze-cohorts'
    | 'actions-braze-cohorts'
    | (string & {})
  settings: SnapConversionsSettings | BrazeSettings | Record<string, unknown>
  /** Default: the destination's presets. Also takes the Public API list response as it is. */
  subscriptions?: Subscription[] | { data: { subscriptions: Subscription[] } }
  /** Origin that replaces the API host (mock servers, proxies, tests). */
  baseUrl?: string
  /** Request-rate limit per destination key (Snap: pixel / app id), shared by every send() on
   * this destination. Default: no ceiling, adaptive on 429. `false`: no limiting at all. */
  rateLimit?: RateLimit | false
}

export interface RateLimit {
  /** Ceiling in requests per second per key (default: none). */
  requestsPerSecond?: number
  /** Requests that may start back to back (default 20). */
  burst?: number
  /** A 429 (a tenth or more of recent answers) halves the rate; it recovers additively (default true). */
  adaptive?: boolean
}

export interface LineError {
  code: ErrorCode
  message: string
  field?: string
}

export interface PlannedRequest {
  /** POST, or DELETE (Snap audiences: users leaving a segment). */
  method: 'POST' | 'DELETE'
  /** Secrets replaced by REDACTED. */
  url: string
  headers: Record<string, string>
  body: unknown
}

export type PlanLine =
  | { messageId: string | null; subscription: string; request: PlannedRequest; messageIds?: (string | null)[] }
  /** An event that makes several calls (audiences: one per identifier schema; a cohort's creation and update). */
  | { messageId: string | null; subscription: string; requests: PlannedRequest[]; messageIds?: (string | null)[] }
  | { messageId: string | null; subscription: string; batchedWith: string | null }
  | { messageId: string | null; subscription?: string; error: LineError }
  | { messageId: string | null; skipped: string }

export type SendLine =
  | {
      messageId: string | null
      subscription?: string
      delivered: boolean
      attempts: number
      /** Last HTTP status, null when no response. */
      status: number | null
      /** `retryAfterMs`: the server's Retry-After on a retryable failure, when it gave one. */
      error?: LineError & { retryable: boolean; retryAfterMs?: number }
    }
  | { messageId: string | null; skipped: string }

export interface SendOptions {
  /** Requests in flight at once (default 8). */
  concurrency?: number
  /** Attempts per request including the first (default 4). */
  maxAttempts?: number
  /** Per-attempt timeout (default 15000). */
  timeoutMs?: number
  baseDelayMs?: number
  maxDelayMs?: number
  /** A longer Retry-After fails the request as retryable instead of waiting (default 60000). */
  maxRetryAfterMs?: number
  /** Cap on request starts per second for this call, on top of the destination's rateLimit (default: none). */
  maxRequestsPerSecond?: number
  /** Add the monitoring record of what was sent as a last line `{ record }` (what
   * sendWithRecord uses; docs/monitoring.md). */
  record?: boolean
}

/** What an NDJSON call did: events read; lines planned / delivered, rejected before any request,
 * skipped (no subscription, consent), failed (sent, not delivered). */
export interface Counts {
  events: number
  planned: number
  delivered: number
  rejected: number
  skipped: number
  failed: number
}

export interface NdjsonResult {
  /** One NDJSON line per plan/send line, exactly as JSON.stringify prints it. */
  output: string
  counts: Counts
}

export interface NdjsonBytesResult {
  /** planNdjson()'s output, UTF-8 encoded. */
  output: Uint8Array
  counts: Counts
}

export interface Destination {
  /** Dry run: the exact requests, secrets redacted, and per-event errors. */
  plan(events: unknown[]): PlanLine[]
  /** Deliver; one line per (event, subscription) once its delivery has ended. */
  send(events: unknown[], options?: SendOptions): Promise<SendLine[]>
  /** plan() for NDJSON text (one event per line; blank lines skipped). `firstLine` numbers the
   * first line in error messages (default 1). */
  planNdjson(ndjson: string, opts?: { firstLine?: number }): NdjsonResult
  /** planNdjson() on UTF-8 bytes (a Buffer or Uint8Array), the output as UTF-8 bytes: a stream's
   * chunks in and out with no UTF-8 decoding or encoding in JS. Invalid UTF-8 reads as U+FFFD. */
  planNdjsonBytes(ndjson: Uint8Array, opts?: { firstLine?: number }): NdjsonBytesResult
  /** send() for NDJSON text. */
  sendNdjson(ndjson: string, options?: SendOptions, opts?: { firstLine?: number }): Promise<NdjsonResult>
  /** send() plus the monitoring record of what it sent (docs/monitoring.md). */
  sendWithRecord(events: unknown[], options?: SendOptions): Promise<{ lines: SendLine[]; record: SentRecord }>
  /** sendNdjson() plus the monitoring record of what it sent. */
  sendNdjsonWithRecord(ndjson: string, options?: SendOptions, opts?: { firstLine?: number }): Promise<NdjsonResult & { record: SentRecord }>
  /** Release the wasm-side memory now instead of at garbage collection. */
  free(): void
}

// ---------------------------------------------------------------------------------------------
// Monitoring (docs/monitoring.md): a record of what was sent, compared with what the destination
// reports. `monitor` holds the decisions; pkg/monitor.js (`edge-actions/monitor`) the I/O.

/** Counts of sent items by destination slug, target (pixel / app id, or audience key), event type
 * (`PURCHASE`, or `add` / `remove` for audiences) and UTC day. */
export interface SentRecord {
  version: 1
  entries: { destination: string; target: string; eventType: string; day: string; delivered: number; failed: number }[]
}

export interface MonitorThresholds {
  /** Alert above this fraction of the expected figure (default 0.1) ... */
  relative?: number
  /** ... when the difference is at least this (default 5). */
  absolute?: number
}

export interface MonitorConfig {
  thresholds?: MonitorThresholds
  conversions?: {
    pixelId: string
    destination?: string
    eventTypes?: string[]
    /** Event type -> Snap stats field, for types without a built-in one. */
    fields?: Record<string, string>
    /** Read this ad account's stats instead of the pixel's. */
    adAccountId?: string
    thresholds?: MonitorThresholds
  }[]
  audiences?: {
    destination: string
    audience?: string
    source: 'snap-segment' | 'braze-segment'
    id: string
    baseline?: number
    matchRate?: number
    expectStatus?: string[]
    thresholds?: MonitorThresholds
  }[]
  snap?: { baseUrl?: string; tokenUrl?: string }
  braze?: { baseUrl?: string }
  retry?: { maxAttempts?: number; baseDelayMs?: number; maxDelayMs?: number; maxRetryAfterMs?: number; timeoutMs?: number }
}

export interface MonitorFinding {
  kind: 'conversions' | 'audience'
  destination: string
  target: string
  eventType?: string
  day: string
  sent?: number
  expected?: number
  reported?: number
  status?: string
  result: 'ok' | 'alert' | 'error' | 'skipped'
  line: string
}

export interface MonitorReport {
  day: string
  ok: boolean
  alerts: number
  errors: number
  findings: MonitorFinding[]
  /** Slack incoming-webhook JSON when something is wrong, else null. */
  webhook: { text: string; blocks: unknown[] } | null
}

export declare const monitor: {
  mergeRecords(records: (SentRecord | null)[]): SentRecord
  /** The reads a run needs: [{ id, api: 'snap' | 'braze', path }]. */
  plan(config: MonitorConfig, record: SentRecord | null, day: string): { id: string; api: 'snap' | 'braze'; path: string }[]
  /** `responses`: request id -> { body } or { error }. */
  evaluate(config: MonitorConfig, record: SentRecord | null, day: string, responses: Record<string, { body: unknown } | { error: string }>): MonitorReport
}

export declare function createDestination(options: DestinationOptions): Destination
/** Segment mapping-kit `transform(mapping, payload)`. */
export declare function transform(mapping: Record<string, unknown>, payload: unknown): Record<string, unknown>
/** Segment FQL: does `event` match the trigger? Throws EdgeActionsError on invalid FQL. */
export declare function matchesTrigger(fql: string, event: unknown): boolean
/** A destination's presets as Segment-shaped subscriptions. */
export declare function presets(destination: string): Subscription[]
/** Browser entry only: load the wasm once before using the API. */
export declare function init(input?: string | URL | Response | BufferSource | WebAssembly.Module): Promise<void>

// ---------------------------------------------------------------------------------------------
// The ready-made Cloudflare Worker (`edge-actions/worker`, pkg/worker.js): its default export is
// a module Worker ({ fetch, queue, scheduled }). Below: the shape of its EDGE_ACTIONS_CONFIG var and of its
// answers. Reference: docs/worker.md.

/** One destination in EDGE_ACTIONS_CONFIG: createDestination's options plus a name and secrets. */
export interface WorkerDestinationConfig {
  /** Distinct per destination; default: the destination slug. Queue messages carry it. */
  name?: string
  destination: DestinationOptions['destination']
  /** Plain settings. Secret-looking keys (token, secret, api_key, ...) are rejected here. */
  settings?: SnapConversionsSettings | Record<string, unknown>
  /** Setting name -> name of the Worker secret (`wrangler secret put NAME`) that fills it. */
  secrets?: Record<string, string>
  subscriptions?: DestinationOptions['subscriptions']
  /** Per-destination origin; default: the EDGE_ACTIONS_BASE_URL var. */
  baseUrl?: string
}

/** The EDGE_ACTIONS_CONFIG var (a JSON string or a wrangler.toml table). */
export interface WorkerConfig {
  destinations: WorkerDestinationConfig[]
  inbound?: {
    maxBodyBytes?: number
    maxEvents?: number
    /** 'first-event' (default): also accept Segment's batch signature, over the first event only. */
    batchSignature?: 'first-event' | 'whole-body'
  }
  delivery?: {
    /** At most 6 (a Worker invocation's simultaneous connections), shared by the destinations. */
    concurrency?: number
    /** Inline mode only; the queue consumer tries once and lets the queue retry. */
    maxAttempts?: number
    timeoutMs?: number
    baseDelayMs?: number
    maxRetryAfterMs?: number
    /** Subrequests one invocation may make: 50 (free plan, default) or up to 10,000 (paid). */
    subrequests?: number
  }
  queue?: {
    /** Name of the dead-letter queue (wrangler.toml dead_letter_queue); its batches are parked in KV. */
    deadLetterQueue?: string
    retryBaseSeconds?: number
    retryMaxSeconds?: number
    /** Also park permanently rejected events in KV (to replay after a fix). */
    parkRejected?: boolean
    deadLetterTtlDays?: number
  }
  clickIds?: {
    enabled?: boolean
    /** Collection route (default /sc/collect). */
    path?: string
    cookieMaxAgeDays?: number
    /** How long KV keeps a visitor's click id (default 37 days). */
    ttlDays?: number
    cookieDomain?: string | null
    /** Origins allowed to call the route cross-origin with credentials. */
    allowedOrigins?: string[]
  }
  /** Monitoring (docs/monitoring.md): needs EDGE_ACTIONS_KV; runs on the Worker's cron trigger. */
  monitor?: Omit<MonitorConfig, 'snap'> & {
    /** Record what is sent (default true). */
    record?: boolean
    snap?: { baseUrl?: string; tokenUrl?: string }
    /** Credential -> name of the Worker secret that holds it. */
    secrets?: Partial<Record<'snapAccessToken' | 'snapRefreshToken' | 'snapClientId' | 'snapClientSecret' | 'brazeApiKey' | 'webhook', string>>
  }
}

/** A queue message: one event for one destination. */
export interface WorkerQueueMessage {
  v: 1
  dest: string
  event: Record<string, unknown>
}

/** Inline mode answer (200, or 503 while any retryable failure remains). */
export interface WorkerInlineAnswer {
  delivered: number
  rejected: number
  retryable: number
  skipped: number
  results: (SendLine & { destination: string })[]
}

/** Queue mode answer (202; 200 when every event was rejected). */
export interface WorkerQueuedAnswer {
  queued: number
  rejected: { index: number; messageId: string | null; destination?: string; error: { code: string; message: string; retryable: false } }[]
}

/** Every error answer: 400, 401, 404, 405, 409, 413, 500 (CONFIG_ERROR, with `setting`), 503. */
export interface WorkerErrorAnswer {
  error: { code: string; message: string; setting?: string }
}
