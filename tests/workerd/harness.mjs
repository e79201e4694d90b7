// Runs the package's ready-made Worker (pkg/worker.js) in real workerd through Miniflare 4, the
// way wrangler loads it (wrangler.toml: .js as ES modules, .wasm as CompiledWasm), with Queues,
// the dead-letter queue and KV simulated locally. Shared by tests/workerd/worker.test.mjs and
// scripts/demo-worker.mjs. Needs Node >= 22 and `make build`.
import { createHmac } from 'node:crypto'
import { existsSync } from 'node:fs'
import { join, resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Miniflare, Log, LogLevel } from 'miniflare'

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const EVENTS_QUEUE = 'edge-actions-events'
export const DEAD_LETTER_QUEUE = 'edge-actions-dlq'

export const sign = (secret, body) => createHmac('sha1', secret).update(body, 'utf8').digest('hex')

/**
 * Starts the Worker. `bindings` are vars and secrets (strings, or objects for JSON vars);
 * `queue: { maxRetries }` binds the queue + dead-letter queue; `kv: true` binds EDGE_ACTIONS_KV.
 * Returns { mf, logs, fetch(path, init) }.
 */
export async function startWorker(opts = {}) {
  for (const f of ['pkg/worker.js', 'pkg/workerd.js', 'pkg/wasm/edge_actions_bg.wasm', 'pkg/wasm/edge_actions.js']) {
    if (!existsSync(join(REPO_ROOT, f))) throw new Error(`${f} is missing: run \`make build\` first`)
  }
  const logs = []
  const mf = new Miniflare(workerOptions(opts, logs))
  await mf.ready
  return {
    mf,
    logs,
    /** The Worker's structured log lines (JSON objects from pkg/worker.js). */
    records() {
      return logs.flatMap((l) => {
        const i = l.indexOf('{"src":"edge-actions"')
        if (i < 0) return []
        try {
          return [JSON.parse(l.slice(i))]
        } catch {
          return []
        }
      })
    },
    /** Restarts the Worker with other options (same shape as startWorker's). */
    restart: (next) => mf.setOptions(workerOptions(next, logs)),
    fetch: (path, init) => mf.dispatchFetch(`http://worker.test${path}`, init),
    dispose: () => mf.dispose()
  }
}

/** Miniflare options for the Worker; its log lines are pushed onto `logs`. */
export function workerOptions({ bindings, queue, kv = false, logLevel = LogLevel.WARN, onLog } = {}, logs = []) {
  const options = {
    name: 'edge-actions',
    modules: true,
    scriptPath: join(REPO_ROOT, 'pkg', 'worker.js'),
    modulesRoot: REPO_ROOT,
    modulesRules: [
      { type: 'ESModule', include: ['**/*.js', '**/*.mjs'] },
      { type: 'CompiledWasm', include: ['**/*.wasm'] }
    ],
    compatibilityDate: '2025-09-01',
    bindings,
    // No network lookups, no telemetry, nothing but loopback.
    cf: false,
    telemetry: { enabled: false },
    unsafeLocalExplorer: false,
    host: '127.0.0.1',
    log: new Log(logLevel),
    handleRuntimeStdio(stdout, stderr) {
      const take = (d) => {
        for (const line of String(d).split('\n')) {
          if (!line.trim()) continue
          logs.push(line)
          onLog?.(line)
        }
      }
      stdout.on('data', take)
      stderr.on('data', take)
    }
  }
  if (queue) {
    const consumer = { maxBatchSize: queue.maxBatchSize ?? 10, maxBatchTimeout: 0, maxRetries: queue.maxRetries ?? 3 }
    options.queueProducers = { EDGE_ACTIONS_QUEUE: { queueName: EVENTS_QUEUE } }
    options.queueConsumers = {
      [EVENTS_QUEUE]: { ...consumer, deadLetterQueue: DEAD_LETTER_QUEUE },
      [DEAD_LETTER_QUEUE]: consumer
    }
  }
  if (kv) options.kvNamespaces = ['EDGE_ACTIONS_KV']
  return options
}

/** Polls `fn` until it returns a truthy value (or throws after `timeoutMs`). */
export async function waitFor(fn, { timeoutMs = 10000, intervalMs = 25, what = 'condition' } = {}) {
  const until = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, intervalMs))
  }
}
