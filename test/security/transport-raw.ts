// Exact bytes over a TCP connection, for the transport tests (test/security/transport-*.test.ts,
// stream-*.test.ts): what a slow, broken or hostile client sends, and what comes back, event by
// event. Every wait ends on an event (an answer, the connection's close); its time limit only turns
// a missing event into a clear failure instead of the test runner's time-out.
import { connect, type Socket } from 'node:net'

export interface RawAnswer {
  status: number
  headers: Record<string, string>
  body: string
}

/** How long a wait may last before the event it waits for counts as missing. */
export const MISSING_AFTER_MS = 10_000

export class RawConnection {
  private readonly socket: Socket
  private received = Buffer.alloc(0)
  private readonly waiters: Array<() => void> = []
  private readonly closedPromise: Promise<void>
  isClosed = false

  constructor (port: number) {
    this.socket = connect(port, '127.0.0.1')
    this.socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk])
      this.wake()
    })
    this.socket.on('error', () => {})
    this.closedPromise = new Promise(resolve => {
      this.socket.on('close', () => {
        this.isClosed = true
        this.wake()
        resolve()
      })
    })
  }

  private wake (): void {
    for (const w of this.waiters.splice(0)) w()
  }

  /** Resolves once the socket is connected. */
  async connected (): Promise<void> {
    if (!this.socket.connecting) return
    await new Promise<void>(resolve => this.socket.once('connect', () => resolve()))
  }

  write (data: string | Buffer): void {
    if (!this.isClosed && this.socket.writable) this.socket.write(data)
  }

  /** Everything received so far, as text. */
  text (): string {
    return this.received.toString('latin1')
  }

  /** The first answer on the connection, once it has fully arrived (or the connection closed after it). */
  async answer (what = 'an answer'): Promise<RawAnswer> {
    return await this.until(() => parseAnswer(this.received, this.isClosed), what)
  }

  /** Resolves when the server has closed the connection. */
  async closed (what = 'the connection to be closed'): Promise<void> {
    await this.until(() => (this.isClosed ? true : undefined), what)
  }

  /** Resolves once `test` gives a value (checked on every byte and on close). */
  async until<T>(test: () => T | undefined, what: string): Promise<T> {
    const deadline = Date.now() + MISSING_AFTER_MS
    for (;;) {
      const value = test()
      if (value !== undefined) return value
      if (this.isClosed) {
        throw new Error(`waited for ${what}; the connection closed after ${JSON.stringify(this.text().slice(0, 300))}`)
      }
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`waited for ${what}; got ${JSON.stringify(this.text().slice(0, 300))}`)
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, left)
        this.waiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }

  destroy (): void {
    this.socket.destroy()
  }

  /** Resolves when the connection is gone (after destroy(), or the server's close). */
  async gone (): Promise<void> {
    await this.closedPromise
  }
}

/** One HTTP/1.1 answer from the bytes received, or undefined while it is incomplete. */
export function parseAnswer (bytes: Buffer, closed: boolean): RawAnswer | undefined {
  const all = bytes.toString('latin1')
  const head = all.indexOf('\r\n\r\n')
  if (head === -1) return undefined
  const [statusLine, ...lines] = all.slice(0, head).split('\r\n')
  const headers: Record<string, string> = {}
  for (const l of lines) {
    const i = l.indexOf(':')
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim()
  }
  let rest = all.slice(head + 4)
  if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length'])
    if (rest.length < n) return undefined
    rest = rest.slice(0, n)
  } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    let out = ''
    let at = 0
    let ended = false
    for (;;) {
      const eol = rest.indexOf('\r\n', at)
      if (eol === -1) break
      const size = parseInt(rest.slice(at, eol), 16)
      if (size === 0) {
        ended = true
        break
      }
      if (!(size > 0) || rest.length < eol + 2 + size) break
      out += rest.slice(eol + 2, eol + 2 + size)
      at = eol + 2 + size + 2
    }
    if (!ended && !closed) return undefined
    rest = out
  } else if (!closed) {
    return undefined
  }
  return {
    status: Number(statusLine.split(' ')[1]),
    headers,
    body: Buffer.from(rest, 'latin1').toString('utf8')
  }
}

/** An HTTP/1.1 request head: the request line, Host (unless given), the headers, and the blank line. */
export function head (requestLine: string, headers: Record<string, string> = {}, host = true): string {
  const lines = [requestLine, ...(host ? ['Host: consent.test'] : [])]
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`)
  return lines.map(l => `${l}\r\n`).join('') + '\r\n'
}

/** A chunk of a chunked body. */
export function chunk (data: string): string {
  return `${Buffer.byteLength(data).toString(16)}\r\n${data}\r\n`
}
