// Runs the built CLI (pkg/cli.js) as a separate process: stdout lines parsed as JSON (`lines`),
// any that are not JSON kept apart in `bad`, plus exit code, signal and stderr.
import { spawn } from 'node:child_process'
import { PKG_CLI, REPO_ROOT } from './load-pkg.mjs'

export function runCli(args, { stdin, timeoutMs = 30000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [PKG_CLI, ...args], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const t = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`CLI timed out after ${timeoutMs} ms; stderr: ${stderr}`))
    }, timeoutMs)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(t)
      const lines = []
      const bad = []
      for (const raw of stdout.split('\n')) {
        if (raw.trim() === '') continue
        try {
          lines.push(JSON.parse(raw))
        } catch {
          bad.push(raw)
        }
      }
      resolve({ code, signal, stdout, stderr, lines, bad })
    })
    if (stdin !== undefined) child.stdin.end(stdin)
    else child.stdin.end()
  })
}
