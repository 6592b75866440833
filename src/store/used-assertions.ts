// The jti of every client assertion accepted while it could still be replayed (SPEC §4, RFC 7523
// §3): shared through the store, so an assertion used at one instance is refused at every other.
import type { Database } from './database.ts'

const SWEEP_MS = 60_000

export class UsedAssertions {
  private readonly sweeper: NodeJS.Timeout

  constructor (private readonly db: Database) {
    // Expired jtis can never be replayed (exp is checked first), so they are dropped now and then.
    this.sweeper = setInterval(() => {
      this.sweep().catch(() => {})
    }, SWEEP_MS)
    this.sweeper.unref()
  }

  /** Records the jti; false when this client has used it before (a replay). */
  async remember (clientId: string, jti: string, expiresAt: Date): Promise<boolean> {
    try {
      await this.db.prisma.usedAssertion.create({ data: { clientId, jti, expiresAt } })
      return true
    } catch (err) {
      if ((err as { code?: string }).code === 'P2002') return false
      throw err
    }
  }

  /** Drops the jtis whose assertions have expired; returns how many. */
  async sweep (now = new Date()): Promise<number> {
    const { count } = await this.db.prisma.usedAssertion.deleteMany({ where: { expiresAt: { lt: now } } })
    return count
  }

  close (): void {
    clearInterval(this.sweeper)
  }
}
