// The client registry's writes, shared by the admin API and the CLI. Each write commits with its
// audit event and a change-sequence row, so every instance sees it within one poll.
import { randomUUID } from 'node:crypto'
import type { Exemption } from '../domain/exemptions.ts'
import type { ClientStatus } from '../domain/clients.ts'
import { appendChange, type AuditWriter } from './audit-writer.ts'
import type { Database } from './database.ts'
import { toClient, type ClientRecord } from './rows.ts'

export interface NewClient {
  name: string
  odsCode?: string | null
  scopes: string[]
  purposes: string[]
  exemptions: Exemption[]
  jwks: { keys: Array<Record<string, unknown>> } | null
  jwksUrl: string | null
  /** Every decision of this client must name its end user (SPEC §2 "Who asked"); false when not given. */
  requireEndUser?: boolean
}

export type ClientPatch = Partial<NewClient> & { status?: ClientStatus }

/** Who made a change, for its audit event: a client's request, or the CLI (clientId null). */
export interface Actor {
  clientId: string | null
  requestId: string | null
  /** The request's X-Correlation-ID (SPEC §3 "Audit"); none from the CLI. */
  correlationId?: string | null
}

/** The fields of an administrative change's audit event that say who made it. */
export function changedBy (
  actor: Actor
): { clientId: string | null; requestId: string | null; correlationId: string | null } {
  return { clientId: actor.clientId, requestId: actor.requestId, correlationId: actor.correlationId ?? null }
}

export interface ClientQuery {
  /** Only clients whose id sorts after this one (the previous page's last). */
  afterId?: string
  status?: ClientStatus
  limit: number
}

/** Registered clients in id order (a stable order for paging). */
export async function listClients (db: Database, q: ClientQuery): Promise<ClientRecord[]> {
  const rows = await db.prisma.client.findMany({
    where: {
      ...(q.afterId !== undefined ? { id: { gt: q.afterId } } : {}),
      ...(q.status !== undefined ? { status: q.status } : {})
    },
    orderBy: { id: 'asc' },
    take: q.limit
  })
  return rows.map(toClient)
}

/** Every registered client, oldest first (the CLI's listing). */
export async function allClients (db: Database): Promise<ClientRecord[]> {
  return (await db.prisma.client.findMany({ orderBy: { createdAt: 'asc' } })).map(toClient)
}

/**
 * A JWKS URL as it may be shown or audited: any user:password@ replaced by ***@. Registration has
 * refused credentials in the URL since they were found echoed and audited (SECURITY.md T14); this
 * keeps a URL stored before that from being shown.
 */
export function shownJwksUrl (url: string | null): string | null {
  if (url === null) return null
  try {
    const u = new URL(url)
    if (u.username === '' && u.password === '') return url
    return `${u.protocol}//***@${u.host}${u.pathname}${u.search}${u.hash}`
  } catch {
    return url.includes('@') ? '***' : url
  }
}

/** Refuses a write that would leave a client with two key sources (the service refuses it first, with its reasons). */
function assertOneKeySource (c: { jwks?: unknown; jwksUrl?: string | null }): void {
  if (c.jwks != null && c.jwksUrl != null) throw new Error('a client has one key source: jwks or jwksUrl, not both')
}

/** What the audit trail keeps of a client: never key material. */
function clientSummary (c: ClientRecord): Record<string, unknown> {
  return {
    name: c.name,
    odsCode: c.odsCode,
    scopes: c.scopes,
    purposes: c.purposes,
    exemptions: c.exemptions,
    kids: (c.jwks?.keys ?? []).map(k => k.kid),
    jwksUrl: shownJwksUrl(c.jwksUrl),
    status: c.status,
    requireEndUser: c.requireEndUser
  }
}

export async function createClient (
  db: Database,
  audit: AuditWriter,
  input: NewClient,
  actor: Actor
): Promise<ClientRecord> {
  assertOneKeySource(input)
  const now = new Date()
  const id = randomUUID()
  const { result } = await audit.commit(
    async tx => {
      const row = await tx.client.create({
        data: {
          id,
          name: input.name,
          odsCode: input.odsCode ?? null,
          scopes: JSON.stringify(input.scopes),
          purposes: JSON.stringify(input.purposes),
          exemptions: JSON.stringify(input.exemptions),
          jwks: input.jwks === null ? null : JSON.stringify(input.jwks),
          jwksUrl: input.jwksUrl,
          requireEndUser: input.requireEndUser ?? false,
          status: 'active',
          createdAt: now,
          updatedAt: now
        }
      })
      await appendChange(tx, db, 'client', id)
      return toClient(row)
    },
    client => ({
      type: 'client.created',
      ...changedBy(actor),
      outcome: 'created',
      details: { subjectClientId: client.id, ...clientSummary(client) }
    })
  )
  return result
}

/** Applies a patch; undefined when the client does not exist. */
export async function updateClient (
  db: Database,
  audit: AuditWriter,
  id: string,
  patch: ClientPatch,
  actor: Actor
): Promise<ClientRecord | undefined> {
  assertOneKeySource(patch)
  const { result } = await audit.commit(
    async tx => {
      const existing = await tx.client.findUnique({ where: { id } })
      if (existing === null) return undefined
      const before = toClient(existing)
      const row = await tx.client.update({
        where: { id },
        data: {
          ...(patch.name !== undefined ? { name: patch.name } : {}),
          ...(patch.odsCode !== undefined ? { odsCode: patch.odsCode } : {}),
          ...(patch.scopes !== undefined ? { scopes: JSON.stringify(patch.scopes) } : {}),
          ...(patch.purposes !== undefined ? { purposes: JSON.stringify(patch.purposes) } : {}),
          ...(patch.exemptions !== undefined ? { exemptions: JSON.stringify(patch.exemptions) } : {}),
          ...(patch.jwks !== undefined ? { jwks: patch.jwks === null ? null : JSON.stringify(patch.jwks) } : {}),
          ...(patch.jwksUrl !== undefined ? { jwksUrl: patch.jwksUrl } : {}),
          // One key source: setting one clears the other in this same write, so the keys of the
          // source left behind stop working at once, whatever else changes concurrently.
          ...(patch.jwks != null ? { jwksUrl: null } : {}),
          ...(patch.jwksUrl != null ? { jwks: null } : {}),
          ...(patch.status !== undefined ? { status: patch.status } : {}),
          ...(patch.requireEndUser !== undefined ? { requireEndUser: patch.requireEndUser } : {}),
          updatedAt: new Date()
        }
      })
      await appendChange(tx, db, 'client', id)
      return { before, after: toClient(row) }
    },
    r => ({
      type: 'client.updated',
      ...changedBy(actor),
      outcome: r === undefined ? 'not-found' : 'updated',
      details:
        r === undefined
          ? { subjectClientId: id }
          : {
              subjectClientId: id,
              changed: Object.keys(patch),
              before: clientSummary(r.before),
              after: clientSummary(r.after)
            }
    })
  )
  return result?.after
}
