// A PostgreSQL impostor for tests: it records every byte it receives (decrypted, over TLS) and asks for a cleartext
// password, as a PostgreSQL server does before it takes an Entra token; then it refuses the login.
import net from 'node:net'
import tls from 'node:tls'

const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])
const AUTHENTICATION_CLEARTEXT_PASSWORD = Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 3])

function fatal(code: string, message: string): Buffer {
  const body = Buffer.from(`SFATAL\0C${code}\0M${message}\0\0`)
  const head = Buffer.alloc(5)
  head[0] = 0x45
  head.writeUInt32BE(body.length + 4, 1)
  return Buffer.concat([head, body])
}

export type Negotiation = 'decline-tls' | 'skip-negotiation' | { key: string; cert: string }

export interface Impostor {
  host: string
  port: number
  /** every byte received, decrypted when TLS was negotiated */
  received(): Buffer
  close(): Promise<void>
}

/**
 * A PostgreSQL impostor. 'decline-tls' answers N to SSLRequest; 'skip-negotiation' answers an SSLRequest with a
 * password request at once; a key and certificate make it accept TLS with them. Then it asks for a cleartext
 * password, records it, and refuses the login.
 */
export async function startImpostor(negotiation: Negotiation, host = '127.0.0.1'): Promise<Impostor> {
  const chunks: Buffer[] = []
  const sockets = new Set<net.Socket>()
  const converse = (socket: net.Socket, first: Buffer) => {
    // After the (optional) TLS step: the startup message, then a password message.
    let stage: 'startup' | 'password' | 'done' = 'startup'
    const onData = (data: Buffer) => {
      chunks.push(data)
      if (stage === 'startup') {
        stage = 'password'
        socket.write(AUTHENTICATION_CLEARTEXT_PASSWORD)
      } else if (stage === 'password') {
        stage = 'done'
        socket.end(fatal('28P01', 'password authentication failed'))
      }
    }
    socket.on('data', onData)
    if (first.length > 0) onData(first)
  }
  const server = net.createServer((raw) => {
    sockets.add(raw)
    raw.on('close', () => sockets.delete(raw))
    raw.on('error', () => {})
    raw.once('data', (data: Buffer) => {
      const isSslRequest = data.subarray(0, 8).equals(SSL_REQUEST)
      if (!isSslRequest) return converse(raw, data) // a client that starts without TLS: data is the startup message
      chunks.push(SSL_REQUEST)
      const rest = data.subarray(8)
      if (negotiation === 'decline-tls') {
        raw.write('N')
        return converse(raw, rest)
      }
      if (negotiation === 'skip-negotiation') {
        raw.write(AUTHENTICATION_CLEARTEXT_PASSWORD)
        return converse(raw, rest)
      }
      raw.write('S')
      const secure = new tls.TLSSocket(raw, { isServer: true, key: negotiation.key, cert: negotiation.cert })
      secure.on('error', () => {})
      converse(secure, Buffer.alloc(0))
    })
  })
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, host, resolve))
  return {
    host,
    port: (server.address() as net.AddressInfo).port,
    received: () => Buffer.concat(chunks),
    async close() {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
