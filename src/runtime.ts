// The runtime: everything a running instance holds (store, index, feed, audit writer, keys),
// opened in dependency order and closed in reverse. The use cases (src/services) run on it.
import type { Logger } from 'pino'
import type { Config } from './config.ts'
import { looseModeMessage, looseModes } from './paths.ts'
import { AccessTokens } from './auth/access-tokens.ts'
import { loadOrCreateSigningKeys, loadSigningKeys, type SigningKeys } from './auth/signing-keys.ts'
import { AuditWriter } from './store/audit-writer.ts'
import { openDriverWriter, type DriverWriter } from './store/driver-writer.ts'
import { ChangeFeed } from './store/change-feed.ts'
import { openDatabase, privateStorePaths, type Database } from './store/database.ts'
import { migrate } from './store/migrator.ts'
import { PreferenceIndex } from './store/preference-index.ts'
import { Registry, seedPurposes } from './store/registry.ts'
import { SharedCounters } from './store/shared-counters.ts'
import { UsedAssertions } from './store/used-assertions.ts'

export interface Runtime {
  config: Config
  db: Database
  registry: Registry
  index: PreferenceIndex
  feed: ChangeFeed
  audit: AuditWriter
  writer: DriverWriter
  keys: SigningKeys
  tokens: AccessTokens
  counters: SharedCounters
  usedAssertions: UsedAssertions
  close: () => Promise<void>
}

/** Opens the store, applies migrations, seeds purposes on first start and loads the index. */
export async function openRuntime (config: Config, log?: Pick<Logger, 'warn'>): Promise<Runtime> {
  const db = await openDatabase(config.databaseUrl, {
    connectTimeoutMs: config.dbConnectTimeoutMs,
    queryTimeoutMs: config.dbQueryTimeoutMs
  })
  try {
    // Looser modes than SECURITY.md's are the operator's to fix: reported, never a reason not to start.
    for (const loose of looseModes(privateStorePaths(db))) log?.warn({ file: loose }, looseModeMessage(loose))
    await migrate(db)
    await seedPurposes(db)
    const registry = new Registry(db)
    const index = new PreferenceIndex()
    const feed = new ChangeFeed(db, index, registry, config.changePollMs, config.storeStaleAfterMs, err => {
      log?.warn({ err: { message: (err as Error).message } }, 'change feed poll failed')
    })
    await feed.start()
    const writer = openDriverWriter(db)
    const audit = new AuditWriter(db, writer, id => registry.cachedClient(id))
    const keys = await loadOrCreateSigningKeys(config.signingKeyFile, log)
    const tokens = new AccessTokens(
      keys,
      config.publicUrl,
      config.tokenTtlSeconds,
      async () => await loadSigningKeys(config.signingKeyFile)
    )
    const counters = new SharedCounters(db)
    const usedAssertions = new UsedAssertions(db)
    return {
      config,
      db,
      registry,
      index,
      feed,
      audit,
      writer,
      keys,
      tokens,
      counters,
      usedAssertions,
      close: async () => {
        usedAssertions.close()
        await counters.close()
        await feed.stop()
        await audit.close()
        await writer.close()
        await db.close()
      }
    }
  } catch (err) {
    await db.close()
    throw err
  }
}
