#!/usr/bin/env node
// Static file server for the edge-actions playground.
//
//   node www/serve.mjs [--port 8080] [--host 127.0.0.1]
//
// Serves the repository root (so both /www/ and /pkg/ resolve) on loopback only, with the right
// MIME types (application/wasm for .wasm, text/javascript for .js/.mjs) and no caching, then
// prints the playground URL. No dependencies beyond Node's standard library.
//
// Also importable: `import { startServer } from './www/serve.mjs'` (used by the browser tests).

import { createServer } from 'node:http';
import { stat, readFile } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
};

function send(res, status, body, type = 'text/plain; charset=utf-8', extra = {}) {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...extra,
  });
  res.end(body);
}

async function handle(root, req, res) {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return send(res, 405, 'method not allowed\n', undefined, { allow: 'GET, HEAD' });
  }
  let pathname;
  try {
    pathname = decodeURIComponent(new URL(req.url, 'http://localhost').pathname);
  } catch {
    return send(res, 400, 'bad request\n');
  }
  if (pathname === '/' || pathname === '/www') {
    return send(res, 302, 'see /www/\n', undefined, { location: '/www/' });
  }
  if (pathname.includes('\0')) return send(res, 400, 'bad request\n');
  // Resolve inside the root only; never follow `..` out of it, never serve dotfiles/dirs.
  const file = normalize(join(root, pathname));
  if (file !== root && !file.startsWith(root + sep)) return send(res, 403, 'forbidden\n');
  const rel = file.slice(root.length);
  if (rel.split(sep).some((part) => part.startsWith('.') && part !== '.')) {
    return send(res, 404, 'not found\n');
  }
  let target = file;
  let info;
  try {
    info = await stat(target);
    if (info.isDirectory()) {
      if (!pathname.endsWith('/')) {
        return send(res, 301, 'moved\n', undefined, { location: pathname + '/' });
      }
      target = join(target, 'index.html');
      info = await stat(target);
    }
  } catch {
    return send(res, 404, `not found: ${pathname}\n`);
  }
  if (!info.isFile()) return send(res, 404, `not found: ${pathname}\n`);
  const body = await readFile(target);
  const type = MIME[extname(target).toLowerCase()] ?? 'application/octet-stream';
  res.writeHead(200, {
    'content-type': type,
    'content-length': body.length,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/**
 * Start the server. Resolves to { server, port, url, close() }; `url` is the playground URL.
 * port 0 picks a free port.
 */
export function startServer({ port = 8080, host = '127.0.0.1', root = REPO_ROOT, quiet = true } = {}) {
  const absRoot = resolve(root);
  const server = createServer((req, res) => {
    handle(absRoot, req, res).catch((err) => {
      if (!res.headersSent) send(res, 500, 'internal error\n');
      else res.destroy();
      if (!quiet) console.error(err);
    });
    if (!quiet) res.on('finish', () => console.log(`${res.statusCode} ${req.method} ${req.url}`));
  });
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const actual = server.address().port;
      const origin = `http://${host.includes(':') ? `[${host}]` : host}:${actual}`;
      resolvePromise({
        server,
        port: actual,
        origin,
        url: `${origin}/www/`,
        close: () =>
          new Promise((r) => {
            server.closeAllConnections?.();
            server.close(() => r());
          }),
      });
    });
  });
}

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [k, inline] = a.split('=', 2);
    const val = () => (inline !== undefined ? inline : argv[++i]);
    if (k === '--port' || k === '-p') out.port = Number(val());
    else if (k === '--host') out.host = val();
    else if (k === '--root') out.root = val();
    else if (k === '--help' || k === '-h') out.help = true;
    else throw new Error(`unknown argument: ${a}`);
  }
  return out;
}

const isMain = process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (isMain) {
  const args = parseArgs(process.argv.slice(2));
  if (args.help) {
    console.log('usage: node www/serve.mjs [--port 8080] [--host 127.0.0.1] [--root <repo root>]');
    process.exit(0);
  }
  const port = args.port ?? Number(process.env.PORT ?? 8080);
  const { url } = await startServer({ port, host: args.host ?? '127.0.0.1', root: args.root, quiet: false });
  try {
    await stat(join(args.root ?? REPO_ROOT, 'pkg', 'wasm', 'edge_actions_bg.wasm'));
  } catch {
    console.warn('warning: pkg/wasm/edge_actions_bg.wasm is missing; run `make build` first');
  }
  console.log(`edge-actions playground: ${url}`);
}
