// A PostgreSQL wire client small enough to send what pg never would (a password message without its terminator),
// over the same verified TLS a real client uses.
import net from 'node:net'
import tls from 'node:tls'

export class WireClient {
  private buffer = Buffer.alloc(0)
  private waiters: (() => void)[] = []
  private ended = false

  private constructor(private socket: net.Socket) {
    this.listen(socket)
  }

  /** The TLS session the server issued last (a session ticket), once one has arrived. */
  session: Buffer | undefined

  /** SSLRequest, 'S', then TLS verified against `ca`, offering `session` to resume when given. */
  static async openTls(port: number, ca: string, session?: Buffer): Promise<WireClient> {
    const raw = net.connect(port, '127.0.0.1')
    raw.on('error', () => {})
    await new Promise((resolve, reject) => raw.once('connect', resolve).once('error', reject))
    raw.write(Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]))
    const answer = await new Promise<Buffer>((resolve) => raw.once('data', resolve))
    if (answer.toString() !== 'S') throw new Error(`SSLRequest answered with ${JSON.stringify(answer.toString())}`)
    const secure = tls.connect({ socket: raw, ca, host: '127.0.0.1', ...(session ? { session } : {}) })
    secure.on('error', () => {})
    const client = new WireClient(secure)
    secure.on('session', (issued: Buffer) => {
      client.session = issued
    })
    await new Promise((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject))
    return client
  }

  /** The server's certificate with the chain the client built from it (issuerCertificate up to the root). */
  get peerChain(): tls.DetailedPeerCertificate {
    return (this.socket as tls.TLSSocket).getPeerCertificate(true)
  }

  /** Whether the TLS handshake resumed an earlier session instead of negotiating in full. */
  get resumed(): boolean {
    return (this.socket as tls.TLSSocket).isSessionReused()
  }

  private listen(socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk])
      this.wake()
    })
    socket.on('close', () => {
      this.ended = true
      this.wake()
    })
  }

  private wake() {
    for (const w of this.waiters.splice(0)) w()
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes)
  }

  /** The next backend message, or undefined once the front closed the connection. */
  async message(): Promise<{ type: string; body: Buffer } | undefined> {
    for (;;) {
      if (this.buffer.length >= 5) {
        const total = 1 + this.buffer.readUInt32BE(1)
        if (this.buffer.length >= total) {
          const type = String.fromCharCode(this.buffer[0]!)
          const body = this.buffer.subarray(5, total)
          this.buffer = this.buffer.subarray(total)
          return { type, body }
        }
      }
      if (this.ended) return undefined
      await new Promise<void>((resolve) => this.waiters.push(resolve))
    }
  }

  close(): void {
    this.socket.destroy()
  }
}

export function startupPacket(params: Record<string, string>, version = 196608): Buffer {
  const body = Buffer.concat([...Object.entries(params).map(([k, v]) => Buffer.from(`${k}\0${v}\0`)), Buffer.from([0])])
  const head = Buffer.alloc(8)
  head.writeUInt32BE(8 + body.length, 0)
  head.writeUInt32BE(version, 4)
  return Buffer.concat([head, body])
}

/** A typed frontend message whose length field covers exactly `body`. */
export function frontendMessage(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5)
  head[0] = type.charCodeAt(0)
  head.writeUInt32BE(4 + body.length, 1)
  return Buffer.concat([head, body])
}

/** The `C` (SQLSTATE) and `M` (message) fields of an ErrorResponse body. */
export function errorFields(body: Buffer): { code?: string; message?: string } {
  const fields = body.toString('utf8').split('\0')
  const field = (tag: string) => fields.find((f) => f.startsWith(tag))?.slice(1)
  return { code: field('C'), message: field('M') }
}
