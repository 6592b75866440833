// The use cases, one module each, built on one runtime. Every surface (/v1, FHIR, CDS Hooks, the
// console, the CLI) calls these; none of them knows HTTP.
import type { Runtime } from '../runtime.ts'
import { DecisionService } from './decisions.ts'
import type { Observers } from './types.ts'

export type { Caller, Observers } from './types.ts'

export interface Services {
  decisions: DecisionService
}

export function createServices (runtime: Runtime, observers: Observers): Services {
  return {
    decisions: new DecisionService(runtime, observers)
  }
}
