// In-memory views of the client registry and the purpose catalogue, refreshed by the change feed
// and by this instance's own writes. A client unknown here is read from the store once (the CLI
// may have created it a moment ago in another process).
import { PurposeCatalog, SEED_PURPOSES } from '../domain/purposes.ts'
import type { Database } from './database.ts'
import { toClient, toPurpose, type ClientRecord } from './rows.ts'

export class Registry {
  private clients = new Map<string, ClientRecord>()
  private catalogValue = new PurposeCatalog([])

  constructor (private readonly db: Database) {}

  get catalog (): PurposeCatalog {
    return this.catalogValue
  }

  async load (): Promise<void> {
    await this.reloadPurposes()
    const rows = await this.db.prisma.client.findMany()
    this.clients = new Map(rows.map(r => [r.id, toClient(r)]))
  }

  async reloadPurposes (): Promise<void> {
    const rows = await this.db.prisma.purpose.findMany()
    this.catalogValue = new PurposeCatalog(rows.map(toPurpose))
  }

  async reloadClient (id: string): Promise<ClientRecord | undefined> {
    const row = await this.db.prisma.client.findUnique({ where: { id } })
    if (row === null) {
      this.clients.delete(id)
      return undefined
    }
    const client = toClient(row)
    this.clients.set(id, client)
    return client
  }

  /** The cached client; undefined when not known to this instance yet. */
  cachedClient (id: string): ClientRecord | undefined {
    return this.clients.get(id)
  }

  async client (id: string): Promise<ClientRecord | undefined> {
    return this.clients.get(id) ?? (await this.reloadClient(id))
  }

  putClient (client: ClientRecord): void {
    this.clients.set(client.id, client)
  }

  /** Refreshes the cache from a row just read, and returns the client. */
  putAndGet (row: Parameters<typeof toClient>[0]): ClientRecord {
    const client = toClient(row)
    this.clients.set(client.id, client)
    return client
  }
}

/** Seeds the purposes of SPEC §2 on first start; never touches purposes that already exist. */
export async function seedPurposes (db: Database): Promise<void> {
  const now = new Date()
  for (const p of SEED_PURPOSES) {
    await db.prisma.purpose.upsert({
      where: { code: p.code },
      update: {},
      create: { ...p, createdAt: now, updatedAt: now }
    })
  }
}
