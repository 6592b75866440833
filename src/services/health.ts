// Readiness as a load balancer reads it: this instance may take traffic when its store is reachable
// and migrated and its change feed is current (a stale view fails closed, SPEC §2 rule 6).
import type { Runtime } from '../runtime.ts'
import { isMigrated } from '../store/migrator.ts'

export interface Readiness {
  ready: boolean
  checks: {
    store: 'ok' | 'not migrated' | 'unreachable'
    changeFeed: 'ok' | 'stale'
  }
}

export class HealthService {
  constructor (private readonly runtime: Pick<Runtime, 'db' | 'feed'>) {}

  async readiness (): Promise<Readiness> {
    let store: Readiness['checks']['store']
    try {
      store = (await isMigrated(this.runtime.db)) ? 'ok' : 'not migrated'
    } catch {
      store = 'unreachable'
    }
    const changeFeed = this.runtime.feed.fresh ? 'ok' : 'stale'
    return { ready: store === 'ok' && changeFeed === 'ok', checks: { store, changeFeed } }
  }
}
