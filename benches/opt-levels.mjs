// Per-crate opt-level experiment (not part of `make bench`): builds the wasm once per variant
// of Cargo.toml's [profile.release.package.*] overrides, runs wasm-bindgen + wasm-opt -Oz like
// `make build` but into benches/out/opt/<variant>/ (pkg/wasm is left alone), and measures the
// gzipped size and plan() speed in Node on the 10,000 generated events (median of 5; CPU time
// is the steadier figure on a shared machine). Cargo.toml is restored afterwards.
//   node benches/opt-levels.mjs [variant ...]
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync, mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { loadEvents, medianMs, perSec, OUT, ROOT, SETTINGS, DESTINATION } from './common.mjs'

// Overrides appended after [profile.release] (which stays opt-level "z", LTO, 1 codegen unit).
const VARIANTS = {
  'z (today)': '',
  'crate 3': '[profile.release.package.edge-actions]\nopt-level = 3\n',
  'crate s': '[profile.release.package.edge-actions]\nopt-level = "s"\n',
  'crate 2': '[profile.release.package.edge-actions]\nopt-level = 2\n',
  'sha2 3': '[profile.release.package.sha2]\nopt-level = 3\n',
  'serde_json+sha2 3': '[profile.release.package.serde_json]\nopt-level = 3\n[profile.release.package.sha2]\nopt-level = 3\n',
  'crate+serde_json+sha2 3': '[profile.release.package.edge-actions]\nopt-level = 3\n[profile.release.package.serde_json]\nopt-level = 3\n[profile.release.package.sha2]\nopt-level = 3\n',
  's everywhere': '[profile.release.package."*"]\nopt-level = "s"\n[profile.release.package.edge-actions]\nopt-level = "s"\n',
  '3 everywhere': '[profile.release.package."*"]\nopt-level = 3\n[profile.release.package.edge-actions]\nopt-level = 3\n'
}
const chosen = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(VARIANTS)
const FEATURES = ['--enable-bulk-memory', '--enable-nontrapping-float-to-int', '--enable-sign-ext', '--enable-mutable-globals', '--enable-reference-types', '--enable-multivalue']

const cargoToml = join(ROOT, 'Cargo.toml')
const original = readFileSync(cargoToml, 'utf8')
const anchor = '[[bench]]'
const events = loadEvents(10000)
const { makeApi } = await import(pathToFileURL(join(ROOT, 'pkg', 'core.js')).href)
const sh = (cmd, args) => execFileSync(cmd, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] })
const rows = []
try {
  for (const name of chosen) {
    writeFileSync(cargoToml, original.replace(anchor, `${VARIANTS[name]}${VARIANTS[name] ? '\n' : ''}${anchor}`))
    const dir = join(OUT, 'opt', name.replace(/[^a-z0-9]+/gi, '-'))
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir, { recursive: true })
    sh('cargo', ['build', '--quiet', '--release', '--target', 'wasm32-unknown-unknown'])
    sh('wasm-bindgen', ['--target', 'web', '--out-dir', dir, '--out-name', 'edge_actions', join(ROOT, 'target/wasm32-unknown-unknown/release/edge_actions.wasm')])
    const wasmFile = join(dir, 'edge_actions_bg.wasm')
    sh(join(ROOT, 'node_modules/.bin/wasm-opt'), ['-Oz', ...FEATURES, wasmFile, '-o', wasmFile])
    const bytes = readFileSync(wasmFile)
    const gzip = execFileSync('gzip', ['-9c', wasmFile], { maxBuffer: 1 << 26 }).length
    const wasm = await import(pathToFileURL(join(dir, 'edge_actions.js')).href)
    wasm.initSync({ module: bytes })
    const dest = makeApi(() => wasm).createDestination({ destination: DESTINATION, settings: SETTINGS })
    const t = await medianMs(() => dest.plan(events))
    const row = { variant: name, raw: bytes.length, gzip, eventsPerSec: perSec(events.length, t.ms), eventsPerCpuSec: perSec(events.length, t.cpuMs) }
    rows.push(row)
    console.log(JSON.stringify(row))
  }
} finally {
  writeFileSync(cargoToml, original)
}
console.log('| variant | wasm bytes | gzip -9 | plan() events/s (wall) | per CPU second |\n| --- | ---: | ---: | ---: | ---: |')
for (const r of rows) console.log(`| ${r.variant} | ${r.raw.toLocaleString('en-US')} | ${r.gzip.toLocaleString('en-US')} | ${r.eventsPerSec.toLocaleString('en-US')} | ${r.eventsPerCpuSec.toLocaleString('en-US')} |`)
writeFileSync(join(OUT, 'opt-levels.json'), JSON.stringify(rows, null, 2))
