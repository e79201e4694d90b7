// The instant server of benches/send-bench.mjs: answers 200 as soon as a request body is read.
// The bench runs it in its own process (`instantServer()`) and, forked, in a process of its own
// (this file as the main module; IPC: 'count' -> { received, connections, cpuMs }, cpuMs being
// this process's CPU time since start).
import { createServer } from 'node:http'
import { fileURLToPath } from 'node:url'

/** Listens on 127.0.0.1 (a free port); `counts()` -> requests received, connections accepted. */
export async function instantServer() {
  let received = 0
  let connections = 0
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      received++
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{"status":"VALID","reason":""}')
    })
  })
  server.on('connection', () => connections++)
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok))
  return { port: server.address().port, counts: () => ({ received, connections }), close: (done) => server.close(done) }
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.send) {
  const server = await instantServer()
  process.send({ port: server.port })
  process.on('message', (m) => {
    if (m === 'count') {
      const c = process.cpuUsage()
      process.send({ ...server.counts(), cpuMs: (c.user + c.system) / 1000 })
    }
  })
  process.on('disconnect', () => server.close(() => process.exit(0)))
}
