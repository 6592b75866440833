// The client registry (administrators, over /v1/clients or the CLI): register client systems,
// their keys, scopes, purposes and exemptions; change them; suspend them. Every change is checked
// once here, audited, and reaches every instance through the change feed.
import type { ClientStatus } from '../domain/clients.ts'
import { validateClientFields, type ExemptionInput } from '../auth/client-registration.ts'
import { invalidFields, notFound } from '../domain/problems.ts'
import { exemptionsOutsidePurposes, type Exemption } from '../domain/exemptions.ts'
import {
  allClients,
  createClient,
  listClients,
  updateClient,
  type Actor,
  type ClientPatch,
  type ClientQuery
} from '../store/clients.ts'
import type { ClientRecord } from '../store/rows.ts'
import type { Runtime } from '../runtime.ts'

export type { ClientRecord } from '../store/rows.ts'
export type { Actor, ClientPatch } from '../store/clients.ts'
export { shownJwksUrl } from '../store/clients.ts'

export type Jwks = { keys: Array<Record<string, unknown>> }

export interface ClientRegistration {
  name: string
  odsCode?: string | null
  scopes: string[]
  purposes: string[]
  exemptions?: ExemptionInput[]
  jwks?: Jwks
  jwksUrl?: string
  requireEndUser?: boolean
}

/** Any registration field and the status. */
export type ClientChange = Omit<ClientPatch, 'exemptions'> & { exemptions?: ExemptionInput[] }

/**
 * Runs on a whole runtime (the service) or on the store alone (the CLI, which runs without the
 * change feed or token keys): it needs only the store, the audit writer, the registry and the
 * accepted assertion algorithms.
 */
export type ClientServiceRuntime = Pick<Runtime, 'db' | 'audit' | 'registry'> & {
  config: Pick<Runtime['config'], 'assertionAlgorithms'>
}

export class ClientService {
  constructor (private readonly runtime: ClientServiceRuntime) {}

  /** A page of clients in id order; `more` when another page follows. */
  async list (query: ClientQuery): Promise<{ items: ClientRecord[]; more: boolean }> {
    const rows = await listClients(this.runtime.db, { ...query, limit: query.limit + 1 })
    const items = rows.slice(0, query.limit)
    // What was just read is the freshest view this instance has.
    for (const c of items) this.runtime.registry.putClient(c)
    return { items, more: rows.length > query.limit }
  }

  /** Every client, oldest first. */
  async all (): Promise<ClientRecord[]> {
    return await allClients(this.runtime.db)
  }

  /** One client, read afresh from the store (an administrator must see the current registration). */
  async get (id: string): Promise<ClientRecord> {
    const client = await this.runtime.registry.reloadClient(id)
    if (client === undefined) throw notFound('unknown client')
    return client
  }

  /** One client as this instance knows it (read from the store once if not known yet); for display. */
  async lookup (id: string): Promise<ClientRecord | undefined> {
    return await this.runtime.registry.client(id)
  }

  /** A new client with exactly one key source: jwks or jwksUrl. */
  async register (input: ClientRegistration, actor: Actor): Promise<ClientRecord> {
    const exemptions = await this.checked(input, { purposes: input.purposes, exemptions: input.exemptions ?? [] }, true)
    const client = await createClient(
      this.runtime.db,
      this.runtime.audit,
      {
        name: input.name,
        odsCode: input.odsCode ?? null,
        scopes: input.scopes,
        purposes: input.purposes,
        exemptions: exemptions ?? [],
        jwks: input.jwks ?? null,
        jwksUrl: input.jwksUrl ?? null,
        requireEndUser: input.requireEndUser ?? false
      },
      actor
    )
    this.runtime.registry.putClient(client)
    return client
  }

  /**
   * Any registration field and the status; suspension and scope cuts stop existing tokens at once.
   * Setting jwks or jwksUrl switches the client's one key source: the other is cleared in the same
   * write, so keys from the source left behind stop working at once.
   */
  async update (id: string, change: ClientChange, actor: Actor): Promise<ClientRecord> {
    let after: { purposes: string[]; exemptions: ExemptionInput[] } | undefined
    if (change.purposes !== undefined || change.exemptions !== undefined) {
      // The exemptions must still fit the purposes once the change is applied, whichever of them it changes.
      const existing = await this.get(id)
      after = {
        purposes: change.purposes ?? existing.purposes,
        exemptions: change.exemptions ?? existing.exemptions
      }
    }
    const exemptions = await this.checked(change, after)
    const patch: ClientPatch = { ...change, exemptions }
    if (exemptions === undefined) delete patch.exemptions
    const updated = await updateClient(this.runtime.db, this.runtime.audit, id, patch, actor)
    if (updated === undefined) throw notFound('unknown client')
    this.runtime.registry.putClient(updated)
    return updated
  }

  /** Replaces the client's public keys (rotation: the caller sends the whole new set); clears any jwksUrl. */
  async replaceKeys (id: string, jwks: Jwks, actor: Actor): Promise<ClientRecord> {
    return await this.update(id, { jwks }, actor)
  }

  async setStatus (id: string, status: ClientStatus, actor: Actor): Promise<ClientRecord> {
    return await this.update(id, { status }, actor)
  }

  /**
   * Checks the fields (validateClientFields), and that every exemption the client would hold is for
   * one of the purposes it would hold (`after`: its purposes and exemptions once the change is
   * applied); returns the exemptions, now known to be well-formed.
   */
  private async checked (
    fields: ClientChange,
    after?: { purposes: string[]; exemptions: ExemptionInput[] },
    creating = false
  ): Promise<Exemption[] | undefined> {
    const { registry, config } = this.runtime
    const errors = await validateClientFields(registry.catalog, fields, config.assertionAlgorithms, creating)
    if (after !== undefined) {
      const listed = after.purposes.length === 0 ? 'none' : after.purposes.join(', ')
      for (const i of exemptionsOutsidePurposes(registry.catalog, after.purposes, after.exemptions)) {
        const e = after.exemptions[i]
        errors.push(
          fields.exemptions !== undefined
            ? {
                path: `/exemptions/${i}/purpose`,
                message:
                  `the client is not registered for '${e.purpose}' (its purposes: ${listed}); an exemption ` +
                  'applies only to a purpose the client is registered for'
              }
            : {
                path: '/purposes',
                message:
                  `would leave the exemption for '${e.purpose}' (${e.basis}, ${e.reference}) without its purpose; ` +
                  'an exemption applies only to a purpose the client is registered for: remove the exemption ' +
                  'in the same change, or keep the purpose'
              }
        )
      }
    }
    if (errors.length > 0) throw invalidFields(errors)
    return fields.exemptions as Exemption[] | undefined
  }
}
