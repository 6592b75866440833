// The purpose catalogue (SPEC §2 "Purposes"): anyone with a token reads it, administrators add and
// change purposes. Codes are never reused: a deactivated purpose keeps its code.
import { conflict, invalidFields, notFound } from '../domain/problems.ts'
import {
  checkPurposeUpdate,
  editablePart,
  validateNewPurpose,
  type Decision,
  type Purpose,
  type PurposeChange
} from '../domain/purposes.ts'
import type { Actor } from '../store/clients.ts'
import { createPurpose, purposeExists, updatePurpose } from '../store/purposes.ts'
import type { Runtime } from '../runtime.ts'

/** A new purpose as an administrator describes it: the rest take their defaults. */
export type NewPurpose = Pick<Purpose, 'code' | 'name' | 'category'> &
  Partial<Omit<Purpose, 'code' | 'name' | 'category' | 'active'>>

/** A purpose as callers read it: its default as decisions apply it, and the one set on it. */
export interface PurposeView extends Omit<Purpose, 'defaultDecision'> {
  /** The effective default (inherited from the parent when not set on the purpose). */
  defaultDecision: Decision
  /** The default set on this purpose itself, null when inherited. */
  ownDefaultDecision: Decision | null
}

export class PurposeService {
  constructor (private readonly runtime: Pick<Runtime, 'db' | 'audit' | 'registry'>) {}

  /** Every purpose, active or not, in code order. */
  list (): PurposeView[] {
    return this.runtime.registry.catalog
      .all()
      .sort((a, b) => a.code.localeCompare(b.code))
      .map(p => this.view(p))
  }

  get (code: string): PurposeView {
    return this.view(this.existing(code))
  }

  async create (input: NewPurpose, actor: Actor): Promise<PurposeView> {
    const { db, audit, registry } = this.runtime
    const purpose: Purpose = {
      code: input.code,
      name: input.name,
      description: input.description ?? '',
      category: input.category,
      parent: input.parent ?? null,
      defaultDecision: input.defaultDecision ?? null,
      requiresPermissionToView: input.requiresPermissionToView ?? false,
      emergencyAccess: input.emergencyAccess ?? 'never',
      active: true
    }
    if (registry.catalog.get(purpose.code) !== undefined || (await purposeExists(db, purpose.code))) {
      throw conflict(`purpose '${purpose.code}' already exists; purpose codes are never reused`)
    }
    const errors = validateNewPurpose(registry.catalog, purpose)
    if (errors.length > 0) throw invalidFields(errors)
    const created = await createPurpose(db, audit, purpose, actor)
    await registry.reloadPurposes()
    return this.view(created)
  }

  /** Changes or deactivates a purpose (code, category and parent never change: checkPurposeUpdate). */
  async update (code: string, change: PurposeChange, actor: Actor): Promise<PurposeView> {
    const { db, audit, registry } = this.runtime
    const existing = this.existing(code)
    const errors = checkPurposeUpdate(registry.catalog, existing, change)
    if (errors.length > 0) throw invalidFields(errors)
    const updated = await updatePurpose(db, audit, existing, editablePart(change), actor)
    await registry.reloadPurposes()
    return this.view(updated)
  }

  private existing (code: string): Purpose {
    const p = this.runtime.registry.catalog.get(code)
    if (p === undefined) throw notFound(`unknown purpose '${code}'`)
    return p
  }

  private view (p: Purpose): PurposeView {
    return {
      ...p,
      defaultDecision: this.runtime.registry.catalog.defaultDecision(p.code),
      ownDefaultDecision: p.defaultDecision
    }
  }
}
