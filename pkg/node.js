// Node entry: the wasm is read from disk and instantiated synchronously on import.
import { readFileSync } from 'node:fs'
import { Agent as HttpAgent, request as httpRequest } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import * as wasm from './wasm/edge_actions.js'
import { makeApi, errorText, NETWORK, TIMEOUT } from './core.js'

wasm.initSync({ module: readFileSync(new URL('./wasm/edge_actions_bg.wasm', import.meta.url)) })

// Node's `fetch` (undici, web streams, a Request and an AbortSignal per call) costs several
// times what `node:http` does per request (benches/send-bench.mjs, docs/performance.md).
// Connections are kept alive as fetch keeps them; an idle one is closed after 4 s, or earlier
// when the server's Keep-Alive header says so (the agent honours that hint), so a request is
// rarely written to a socket the server is closing.
const clients = {
  'http:': { send: httpRequest, agent: new HttpAgent({ keepAlive: true, timeout: 4000 }) },
  'https:': { send: httpsRequest, agent: new HttpsAgent({ keepAlive: true, timeout: 4000 }) }
}

/** The request function of pkg/core.js (fetchRequest's contract) over node:http / node:https. */
function nodeRequest(method, url, headers, body, timeoutMs) {
  return new Promise((resolve) => {
    let timer
    const done = (answer) => {
      clearTimeout(timer)
      resolve(answer)
    }
    try {
      const u = new URL(url)
      const client = clients[u.protocol]
      if (!client) return resolve([NETWORK, `TypeError: unsupported protocol ${u.protocol}`])
      const h = { 'content-length': Buffer.byteLength(body) }
      for (let i = 0; i < headers.length; i += 2) h[headers[i]] = headers[i + 1]
      // No redirect is followed: node:http never does.
      const req = client.send(u, { method, headers: h, agent: client.agent }, (res) => {
        const hd = (k) => res.headers[k] ?? null
        const answer = (text) => done([res.statusCode, hd('retry-after'), hd('location'), text, hd('x-ratelimit-retry-after'), hd('x-ratelimit-remaining'), hd('x-ratelimit-reset')])
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk) => (text += chunk))
        res.on('end', () => answer(text))
        // A body cut off leaves the status to speak for itself (as fetchRequest does).
        res.on('error', () => answer(''))
        res.on('close', () => answer(''))
      })
      req.on('error', (e) => done([NETWORK, errorText(e)]))
      timer = setTimeout(() => {
        resolve([TIMEOUT])
        req.destroy()
      }, timeoutMs)
      req.end(body)
    } catch (e) {
      done([NETWORK, errorText(e)])
    }
  })
}

export { EdgeActionsError } from './core.js'
export const { createDestination, transform, matchesTrigger, presets, monitor } = makeApi(() => wasm, { request: nodeRequest })
