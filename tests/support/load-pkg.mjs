// Locate and import our package's Node entry.
//   EDGE_ACTIONS_PKG=/abs/path/to/node.js overrides the default ../../pkg/node.js
import { existsSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import path from 'node:path'

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
export const PKG_NODE = process.env.EDGE_ACTIONS_PKG ? path.resolve(process.env.EDGE_ACTIONS_PKG) : path.join(REPO_ROOT, 'pkg', 'node.js')
export const PKG_CLI = path.join(path.dirname(PKG_NODE), 'cli.js')

export const PKG_MISSING_REASON = `package not built: ${path.relative(process.cwd(), PKG_NODE) || PKG_NODE} is missing (run \`make build\`)`

// A missing build fails the suite (a skipped check would hide it); callers keep their
// `skip` expressions, which are then always false.
export function pkgAvailable() {
  if (!existsSync(PKG_NODE) || !existsSync(path.join(path.dirname(PKG_NODE), 'wasm-node', 'edge_actions_bg.wasm'))) {
    throw new Error(PKG_MISSING_REASON)
  }
  return true
}

let cached
export async function loadPkg() {
  if (!cached) cached = await import(pathToFileURL(PKG_NODE).href)
  return cached
}
