// A record store in a local JSON file, for the CLI (Node only; pkg/monitor.js has the others).
import { readFile, writeFile, rename } from 'node:fs/promises'

export class FileRecordStore {
  constructor(core, path) {
    this.core = core
    this.path = path
  }

  async load() {
    let text
    try {
      text = await readFile(this.path, 'utf8')
    } catch (e) {
      if (e.code === 'ENOENT') return null
      throw e
    }
    try {
      // Validated (and normalised) by the core: a broken file is an error naming the entry.
      return this.core.mergeRecords([JSON.parse(text)])
    } catch (e) {
      const field = e?.field ? `${e.field.replace(/^records\[\d+\]\./, '')}: ` : ''
      throw new Error(`record file ${this.path}: ${field}${e.message}`)
    }
  }

  // Written to a temporary file and renamed, so a crash never leaves half a record.
  async add(record) {
    if (!record?.entries?.length) return
    const merged = this.core.mergeRecords([await this.load(), record])
    const tmp = `${this.path}.${process.pid}.tmp`
    await writeFile(tmp, JSON.stringify(merged, null, 1) + '\n')
    await rename(tmp, this.path)
  }
}
