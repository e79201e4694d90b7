// Peak RSS of `edge-actions plan` when its stdout is a slow pipe (issue 7's finding 3): N small
// track events in, the output read by this process with a 1 ms pause per chunk, so the CLI must
// honour backpressure to stay flat. Not part of `make bench` (1M events take minutes).
//   node benches/cli-memory.mjs 1000000 [workers]   (workers: --workers N; default the CLI's)
import { spawn } from 'node:child_process'
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { once } from 'node:events'

const N = Number(process.argv[2] ?? 200000)
const WORKERS = process.argv[3] ? ['--workers', process.argv[3]] : []
const ROOT = new URL('..', import.meta.url).pathname
const OUT = join(ROOT, 'benches', 'out')
mkdirSync(OUT, { recursive: true })
const input = join(OUT, `small-${N}.ndjson`)
const settings = join(OUT, 'memory-settings.json')
writeFileSync(settings, JSON.stringify({ pixel_id: 'px', access_token: 'bench-token' }))

const file = createWriteStream(input)
for (let i = 0; i < N; i++) {
  const ev = { type: 'track', event: i % 3 ? 'Order Completed' : 'Product Added', messageId: `m${i}`, userId: `u${i}`, timestamp: '2024-03-01T12:00:00Z', properties: { email: `user${i}@example.com`, revenue: 10 + (i % 7), currency: 'USD' }, context: { ip: '203.0.113.9', userAgent: 'UA' } }
  if (!file.write(JSON.stringify(ev) + '\n')) await once(file, 'drain')
}
file.end()
await once(file, 'finish')

const timing = join(OUT, 'memory-time.txt')
const child = spawn('/usr/bin/time', ['-f', '%e %M', '-o', timing, process.execPath, join(ROOT, 'pkg', 'cli.js'), 'plan', ...WORKERS, '--quiet', '--destination', 'snap-conversions-api', '--settings', settings, input], { stdio: ['ignore', 'pipe', 'inherit'] })
let bytes = 0
child.stdout.on('data', (c) => {
  bytes += c.length
  child.stdout.pause()
  setTimeout(() => child.stdout.resume(), 1)
})
const [code] = await once(child, 'close')
const [wall, rssKb] = readFileSync(timing, 'utf8').trim().split(/\s+/).map(Number)
console.log(`${N} events${WORKERS.length ? `, --workers ${WORKERS[1]}` : ''}, exit ${code}: ${(bytes / 1e6).toFixed(0)} MB of output read slowly in ${wall} s; peak RSS ${(rssKb / 1024).toFixed(1)} MB`)
