// Read-only access to Segment's reference definition (no network interception here).
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const core = require('@segment/actions-core')
export const snapDefinition = require('@segment/action-destinations/dist/destinations/snap-conversions-api').default

export function snapDefaultMapping() {
  return structuredClone(core.defaultValues(snapDefinition.actions.reportConversionEvent.fields))
}

export function snapPresetSubscriptions() {
  return snapDefinition.presets
    .filter((p) => p.partnerAction === 'reportConversionEvent')
    .map((p) => ({ name: p.name, subscribe: p.subscribe, partnerAction: p.partnerAction, mapping: structuredClone(p.mapping), enabled: true }))
}
