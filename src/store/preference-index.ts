// The in-memory preference index (SPEC §6): every active choice, grouped by NHS number, so that a
// decision never reads the database. It is loaded at start and kept current by the change feed;
// the instance that writes a choice applies it here at once (read-your-writes).
import type { PreferenceRecord } from '../domain/preferences.ts'
import { NhsNumberSet } from './nhs-number-set.ts'

const NONE: readonly PreferenceRecord[] = Object.freeze([])

export class PreferenceIndex {
  private readonly byPatient = new Map<string, PreferenceRecord[]>()
  /** The same patients as numbers, for the bulk filter's allocation-free check. */
  private readonly withChoices = new NhsNumberSet()
  private count = 0

  get size (): number { return this.count }
  get patients (): number { return this.byPatient.size }

  /** Whether the patient (as a number) has any active record: false means the default answers. */
  hasChoices (nhsNumber: number): boolean {
    return this.withChoices.has(nhsNumber)
  }

  /** The patient's active records (any purpose). */
  recordsFor (nhsNumber: string): readonly PreferenceRecord[] {
    return this.byPatient.get(nhsNumber) ?? NONE
  }

  /** Adds, replaces or (when no longer active) removes a record, idempotently. */
  apply (record: PreferenceRecord): void {
    const list = this.byPatient.get(record.nhsNumber)
    const at = list === undefined ? -1 : list.findIndex(r => r.id === record.id)
    if (record.status !== 'active') {
      if (list !== undefined && at >= 0) {
        list.splice(at, 1)
        this.count--
        if (list.length === 0) {
          this.byPatient.delete(record.nhsNumber)
          this.withChoices.delete(Number(record.nhsNumber))
        }
      }
      return
    }
    if (list === undefined) {
      this.byPatient.set(record.nhsNumber, [record])
      this.withChoices.add(Number(record.nhsNumber))
      this.count++
    } else if (at >= 0) {
      list[at] = record
    } else {
      list.push(record)
      this.count++
    }
  }

  clear (): void {
    this.byPatient.clear()
    this.withChoices.clear()
    this.count = 0
  }
}
