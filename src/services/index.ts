// The use cases, one module each, built on one runtime. Every surface (/v1, FHIR, CDS Hooks, the
// CLI, and later the staff console, SPEC §9) calls these; none of them knows HTTP.
import type { Runtime } from '../runtime.ts'
import { AlertService } from './alerts.ts'
import { AuditTrailService } from './audit-trail.ts'
import { ChangesService } from './changes.ts'
import { ClientService } from './clients.ts'
import { DecisionService } from './decisions.ts'
import { FilterService } from './filter.ts'
import { HealthService } from './health.ts'
import { PreferenceImportService } from './preference-import.ts'
import { PreferenceService } from './preferences.ts'
import { PurposeService } from './purposes.ts'
import { TokenService } from './tokens.ts'
import type { Observers } from './types.ts'

export type { Caller, Observers } from './types.ts'

export interface Services {
  decisions: DecisionService
  preferences: PreferenceService
  purposes: PurposeService
  clients: ClientService
  tokens: TokenService
  alerts: AlertService
  auditTrail: AuditTrailService
  filter: FilterService
  preferenceImport: PreferenceImportService
  health: HealthService
  changes: ChangesService
}

export function createServices (runtime: Runtime, observers: Observers): Services {
  return {
    decisions: new DecisionService(runtime, observers),
    preferences: new PreferenceService(runtime),
    purposes: new PurposeService(runtime),
    clients: new ClientService(runtime),
    tokens: new TokenService(runtime),
    alerts: new AlertService(runtime),
    auditTrail: new AuditTrailService(runtime),
    filter: new FilterService(runtime),
    preferenceImport: new PreferenceImportService(runtime),
    health: new HealthService(runtime),
    changes: new ChangesService(runtime)
  }
}
