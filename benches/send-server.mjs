// The instant server of benches/send-bench.mjs in a process of its own (forked; IPC): answers
// 200 as soon as a request body is read. Messages: 'count' -> { received, connections,
// cpuMs } (this process's CPU time since start).
import { createServer } from 'node:http'

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
server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }))
process.on('message', (m) => {
  if (m === 'count') {
    const c = process.cpuUsage()
    process.send({ received, connections, cpuMs: (c.user + c.system) / 1000 })
  }
})
process.on('disconnect', () => server.close(() => process.exit(0)))
