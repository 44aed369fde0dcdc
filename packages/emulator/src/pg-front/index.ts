// The Azure-like PostgreSQL front: TLS required, a cleartext password that is an Entra token for mapped roles (or the
// role's own password otherwise), then the session is handed to the upstream PostgreSQL and bytes are relayed.
import { constants } from 'node:crypto'
import net from 'node:net'
import tls from 'node:tls'
import { ConnectionHandler } from './connection.js'
import type { PgFront, StartPgFrontOptions } from './types.js'

export { tokenFingerprint } from './credentials.js'
export type {
  FrontAuthMethod,
  FrontEvent,
  PgFront,
  StartPgFrontOptions,
  TokenRejectedReason,
  TokenVerifier,
  VerifiedToken,
} from './types.js'
export { isTokenRejected, TokenRejected } from './types.js'

const LOOPBACK_HOSTS = { '127.0.0.1': '127.0.0.1', '::1': '::1', localhost: '127.0.0.1' } as const

export async function startPgFront(opts: StartPgFrontOptions): Promise<PgFront> {
  const bindHost = LOOPBACK_HOSTS[opts.host as keyof typeof LOOPBACK_HOSTS]
  if (!bindHost) throw new Error(`the PostgreSQL front listens on loopback only, not on "${String(opts.host)}"`)
  // As PostgreSQL sets its own: no session tickets, no session cache, so that no client resumes a TLS session here
  // that Azure would make it negotiate in full
  const secureContext = tls.createSecureContext({
    key: opts.tls.key,
    cert: opts.tls.cert,
    secureOptions: constants.SSL_OP_NO_TICKET,
  })
  const sockets = new Set<net.Socket>()
  const handler = new ConnectionHandler(opts, secureContext, (s) => {
    sockets.add(s)
    s.once('close', () => sockets.delete(s))
  })
  const server = net.createServer((socket) => {
    if (!isLoopback(socket.remoteAddress)) {
      socket.destroy()
      return
    }
    handler.handle(socket)
  })
  server.on('connection', (s) => {
    sockets.add(s)
    s.once('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, bindHost, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as net.AddressInfo
  let closing: Promise<void> | undefined
  return {
    host: bindHost,
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve())
        for (const s of sockets) s.destroy()
      })
      return closing
    },
  }
}

function isLoopback(address: string | undefined): boolean {
  if (!address) return false
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.')
}
