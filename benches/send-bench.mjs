// Per-request overhead of `send`: BENCH_SEND_N (3000) one-request events delivered with
// concurrency 6 to an instant local server on 127.0.0.1 (answers 200 as soon as the body is
// read). The events are generated ones that plan to exactly one request each.
// Median of BENCH_RUNS (5) after a warm-up.
//
// Two set-ups, both reported: the server in this process (its CPU counts in this process's
// CPU time), and the server in a process of its own (benches/send-server.mjs), where this
// process's CPU time is the client's alone. BENCH_SEND_SERVER=same or =separate runs one.
// BENCH_SEND_BASELINE=<path of another build's pkg/node.js> measures that build too, its runs
// interleaved with this one's (a, b, a, b, ...) so the machine's load hits both alike.
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { instantServer } from './send-server.mjs'
import { loadEvents, medianMsEach, perSec, report, SETTINGS, DESTINATION, ROOT } from './common.mjs'

const N = Number(process.env.BENCH_SEND_N ?? 3000)
const CONCURRENCY = 6
const MODES = (process.env.BENCH_SEND_SERVER ?? 'same,separate').split(',')
const builds = [['this build', pathToFileURL(resolve(ROOT, 'pkg', 'node.js')).href]]
if (process.env.BENCH_SEND_BASELINE) builds.push(['baseline', pathToFileURL(resolve(process.env.BENCH_SEND_BASELINE)).href])
const apis = await Promise.all(builds.map(([, url]) => import(url)))

async function sameProcessServer() {
  const server = await instantServer()
  return { port: server.port, count: async () => ({ ...server.counts(), cpuMs: 0 }), close: () => server.close() }
}

async function separateServer() {
  const child = fork(resolve(ROOT, 'benches', 'send-server.mjs'), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const [{ port }] = await once(child, 'message')
  const count = async () => {
    child.send('count')
    return (await once(child, 'message'))[0]
  }
  return { port, count, close: () => child.disconnect() }
}

const results = {}
for (const mode of MODES) {
  const server = await (mode === 'separate' ? separateServer() : sameProcessServer())
  try {
    const baseUrl = `http://127.0.0.1:${server.port}`
    const dests = apis.map((api) => api.createDestination({ destination: DESTINATION, settings: SETTINGS, baseUrl }))
    const single = loadEvents(10000).filter((e) => {
      const lines = dests[0].plan([e])
      return lines.length === 1 && lines[0].request
    })
    if (!single.length) throw new Error('no generated event plans to exactly one request')
    const events = Array.from({ length: N }, (_, i) => single[i % single.length])

    const serverCpu = dests.map(() => [])
    const connections = dests.map(() => 0)
    const sendAll = (j) => async () => {
      const before = await server.count()
      const results = await dests[j].send(events, { concurrency: CONCURRENCY })
      const after = await server.count()
      const delivered = results.filter((r) => r.delivered).length
      const received = after.received - before.received
      if (delivered !== N || received !== N) throw new Error(`delivered ${delivered}, server saw ${received}, expected ${N}`)
      serverCpu[j].push(after.cpuMs - before.cpuMs)
      connections[j] = Math.max(connections[j], after.connections - before.connections)
    }
    const times = await medianMsEach(dests.map((_, j) => sendAll(j)))
    for (const [j, [name]] of builds.entries()) {
      const t = times[j]
      const sorted = serverCpu[j].slice(1).sort((a, b) => a - b)
      const r = {
        requests: N,
        concurrency: CONCURRENCY,
        server: mode,
        ms: t.ms,
        cpuMs: t.cpuMs,
        serverCpuMs: mode === 'separate' ? sorted[sorted.length >> 1] : null,
        requestsPerSec: perSec(N, t.ms),
        msPerRequestCpu: t.cpuMs / N,
        newConnectionsPerRun: connections[j]
      }
      results[`${mode}:${name}`] = r
      const cpu = mode === 'separate' ? `client CPU ${t.cpuMs.toFixed(0)} ms, server CPU ${r.serverCpuMs.toFixed(0)} ms` : `CPU ${t.cpuMs.toFixed(0)} ms, server included`
      console.log(`send (${name}), server in ${mode === 'separate' ? 'its own' : 'the same'} process: ${N} one-event requests, concurrency ${CONCURRENCY}: ${t.ms.toFixed(0)} ms = ${r.requestsPerSec} requests/s (${cpu}; at most ${connections[j]} new connections per run)`)
    }
    dests.forEach((d) => d.free())
  } finally {
    server.close()
  }
}
const main = results[`${MODES[0]}:this build`]
report({ name: 'send', ...main, modes: results })
