// Node entry: the wasm is read from disk and instantiated synchronously on import. Node loads
// the speed-optimized build (wasm-node/, `make build-node`); Workers and browsers the
// size-optimized one (wasm/). Same code and features, two compiler settings.
import { readFileSync } from 'node:fs'
import { Agent } from 'undici'
import * as wasm from './wasm-node/edge_actions.js'
import { makeApi, errorText, NETWORK, TIMEOUT } from './core.js'

wasm.initSync({ module: readFileSync(new URL('./wasm-node/edge_actions_bg.wasm', import.meta.url)) })

// undici's dispatcher (the engine under Node's fetch, without fetch's Request objects, web
// streams and AbortSignals) at its `dispatch` level: the response comes to four callbacks, with
// no stream per body. It cost about half the client CPU of `node:http` per request and a third
// of undici's own `request()` (benches/send-bench.mjs, docs/performance.md). One pool per
// origin, connections kept alive; an idle one is closed after 4 s, or earlier when the server's
// Keep-Alive header says so, so a request is rarely written to a socket the server is closing.
// A dispatcher never follows a redirect.
const agent = new Agent({ keepAliveTimeout: 4000 })

// A header's value as node:http gives the ones the core reads: the first of repeated ones.
const header = (headers, k) => {
  const v = headers[k]
  return v === undefined ? null : Array.isArray(v) ? v[0] : v
}

/** The request function of pkg/core.js (fetchRequest's contract) over undici. */
function nodeRequest(method, url, headers, body, timeoutMs) {
  return new Promise((resolve) => {
    let controller = null
    let timedOut = false
    let status = 0
    let answerHeaders = null
    const chunks = []
    const timer = setTimeout(() => {
      timedOut = true
      resolve([TIMEOUT])
      // Aborting closes the connection; a request not yet on a socket is aborted when it gets one.
      controller?.abort(new Error('timeout'))
    }, timeoutMs)
    const done = (answer) => {
      clearTimeout(timer)
      if (!timedOut) resolve(answer)
    }
    const answer = (text) => done([status, header(answerHeaders, 'retry-after'), header(answerHeaders, 'location'), text, header(answerHeaders, 'x-ratelimit-retry-after'), header(answerHeaders, 'x-ratelimit-remaining'), header(answerHeaders, 'x-ratelimit-reset')])
    try {
      const u = new URL(url)
      if (u.protocol !== 'http:' && u.protocol !== 'https:') return done([NETWORK, `TypeError: unsupported protocol ${u.protocol}`])
      // Headers go as the core passes them, [name, value, ...]; undici adds content-length.
      agent.dispatch({ origin: u.origin, path: u.pathname + u.search, method, headers, body: method === 'GET' ? null : body }, {
        onRequestStart(c) {
          controller = c
          if (timedOut) c.abort(new Error('timeout'))
        },
        onResponseStart(_c, statusCode, h) {
          status = statusCode
          answerHeaders = h
        },
        onResponseData(_c, chunk) {
          chunks.push(chunk)
        },
        onResponseEnd() {
          answer(chunks.length === 1 ? chunks[0].toString() : Buffer.concat(chunks).toString())
        },
        // A body cut off leaves the status to speak for itself (as fetchRequest does).
        onResponseError(_c, e) {
          if (answerHeaders) answer('')
          else done([NETWORK, errorText(e)])
        }
      })
    } catch (e) {
      done([NETWORK, errorText(e)])
    }
  })
}

export { EdgeActionsError } from './core.js'
export const { createDestination, transform, matchesTrigger, presets, monitor } = makeApi(() => wasm, { request: nodeRequest })
