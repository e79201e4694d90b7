// Test Worker: runs the package's workerd entry inside real workerd (via Miniflare).
//
//   POST /plan  { settings, subscriptions?, baseUrl?, events }            -> plan() lines
//   POST /send  { settings, subscriptions?, baseUrl?, events, options? }  -> send() results
//   POST /transform { mapping, payload }  -> transform() output
//   POST /fql   { fql, event }            -> { matches }
//   GET  /health                          -> "ok"
//
// baseUrl falls back to the SNAP_BASE_URL binding when the body does not carry one.
// Any thrown error becomes a 500 with { error: { name, message } } so the test can show it.
import { createDestination, transform, matchesTrigger } from '../../pkg/workerd.js';

const json = (value, status = 200) =>
  new Response(JSON.stringify(value), { status, headers: { 'content-type': 'application/json' } });

function destinationFrom(body, env) {
  const options = { destination: body.destination ?? 'snap-conversions-api', settings: body.settings ?? {} };
  if (body.subscriptions !== undefined) options.subscriptions = body.subscriptions;
  const baseUrl = body.baseUrl ?? env.SNAP_BASE_URL;
  if (baseUrl) options.baseUrl = baseUrl;
  return createDestination(options);
}

export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    if (request.method === 'GET' && pathname === '/health') return new Response('ok');
    if (request.method !== 'POST') return json({ error: { message: 'POST only' } }, 405);
    let body;
    try {
      body = await request.json();
    } catch (err) {
      return json({ error: { name: 'BadRequest', message: `body is not JSON: ${err.message}` } }, 400);
    }
    try {
      switch (pathname) {
        case '/plan':
          return json(destinationFrom(body, env).plan(body.events));
        case '/send':
          return json(await destinationFrom(body, env).send(body.events, body.options ?? {}));
        case '/transform':
          return json({ result: transform(body.mapping, body.payload) ?? null });
        case '/fql':
          return json({ matches: matchesTrigger(body.fql, body.event) });
        default:
          return json({ error: { message: `no route ${pathname}` } }, 404);
      }
    } catch (err) {
      return json({ error: { name: err?.name ?? 'Error', message: String(err?.message ?? err), stack: err?.stack } }, 500);
    }
  },
};
