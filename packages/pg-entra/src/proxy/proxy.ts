import { createServer, type Server, type Socket } from 'node:net'
import { userInfo } from 'node:os'
import { entraAuth, isEntraAuth } from '../auth/entra-auth.js'
import type { EntraAuth } from '../auth/types.js'
import { resolveEntraSsl } from '../tls/pg-ssl.js'
import { listenTcp, listenUnix } from './listen.js'
import {
  checkListenHost,
  checkMaxConnections,
  type ProxyConnectionEvent,
  type ProxyOptions,
  serverFields,
} from './options.js'
import { runSession } from './session.js'
import type { UpstreamTarget } from './upstream.js'

export interface EntraProxy {
  /** The TCP address the proxy listens on. */
  readonly host: string
  readonly port: number
  readonly unixSocket: string | undefined
  /** The token source every connection shares. */
  readonly auth: EntraAuth
  /** Client connections open now. */
  readonly connections: number
  /**
   * Stops accepting connections, lets open sessions finish for `graceMs` (default 10 s), then closes what is left
   * (and the EntraAuth if the proxy made it). Resolves once every connection is closed.
   */
  close(options?: { graceMs?: number }): Promise<void>
}

const DEFAULT_GRACE_MS = 10_000

/**
 * A local auth proxy: PostgreSQL clients connect to it on loopback without a password (or with `localPassword`); it
 * logs in to the server over verified TLS with a current Entra token, then relays bytes. One token source serves
 * every connection: concurrent logins share one token request, and refresh happens ahead of expiry.
 */
export async function startProxy(options: ProxyOptions): Promise<EntraProxy> {
  const host = options.host ?? '127.0.0.1'
  checkListenHost(host, options.allowNonLoopback === true)
  checkMaxConnections(options.maxConnections)
  const { maxConnections } = options
  const { fields, ca } = serverFields(options.server)
  const owned = !isEntraAuth(options.entra)
  const auth = isEntraAuth(options.entra) ? options.entra : entraAuth(options.entra)
  const allowUnverifiedTls = options.allowUnverifiedTls ?? auth.allowUnverifiedTls
  const target: UpstreamTarget = {
    host: fields.host!,
    port: fields.port ?? 5432,
    ssl: resolveEntraSsl(ca !== undefined ? { ca } : undefined, fields, allowUnverifiedTls),
    allowUnverifiedTls,
    connectTimeoutMs: options.connectTimeoutMs ?? (fields.connectTimeoutSeconds ?? 30) * 1000,
  }

  const open = new Map<Socket, Set<Socket>>()
  const report = (client: string, event: Omit<ProxyConnectionEvent, 'time' | 'client'>) => {
    try {
      options.onConnection?.({ time: new Date().toISOString(), client, ...event })
    } catch {
      // a logger's failure must not break a connection
    }
  }
  const osUser = osUserName()
  const accept = (label: (socket: Socket) => string) => (client: Socket) => {
    const name = label(client) // now: once the client has gone, its socket no longer knows its address
    const sockets = new Set<Socket>([client])
    open.set(client, sockets)
    let closed = false
    client.once('close', () => {
      closed = true
      open.delete(client)
      for (const socket of sockets) socket.destroy()
      drained()
    })
    void runSession(client, {
      auth,
      target,
      ...(options.localPassword !== undefined ? { localPassword: options.localPassword } : {}),
      ...(options.user ? { defaultUser: options.user } : {}),
      report: (event) => report(name, event),
      // A server connection that opens after the client left is closed at once.
      track: (socket) => (closed ? socket.destroy() : sockets.add(socket)),
      ...(maxConnections !== undefined && open.size > maxConnections ? { overCapacity: { maxConnections } } : {}),
      ...(osUser !== undefined ? { osUser } : {}),
    })
  }

  const servers: Server[] = []
  const tcpServer = createServer(accept((socket) => `${socket.remoteAddress}:${socket.remotePort}`))
  servers.push(tcpServer)
  let drained: () => void = () => {}
  try {
    const address = await listenTcp(tcpServer, host, options.port ?? 0)
    if (options.unixSocket) {
      const unixServer = createServer(accept(() => 'unix'))
      servers.push(unixServer)
      await listenUnix(unixServer, options.unixSocket)
    }
    let closing: Promise<void> | undefined
    return {
      host: address.host,
      port: address.port,
      unixSocket: options.unixSocket,
      auth,
      get connections() {
        return open.size
      },
      close({ graceMs = DEFAULT_GRACE_MS } = {}) {
        closing ??= (async () => {
          const stopped = Promise.all(
            servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
          )
          const allClosed = new Promise<void>((resolve) => {
            drained = () => {
              if (open.size === 0) resolve()
            }
            drained()
          })
          let timer: NodeJS.Timeout | undefined
          const graceOver = new Promise<void>((resolve) => {
            timer = setTimeout(resolve, graceMs)
          })
          await Promise.race([allClosed, graceOver])
          clearTimeout(timer)
          for (const sockets of open.values()) for (const socket of sockets) socket.destroy()
          await Promise.all([allClosed, stopped])
          if (owned) await auth.close()
        })()
        return closing
      },
    }
  } catch (error) {
    for (const server of servers) server.close()
    if (owned) await auth.close()
    throw error
  }
}

/** The name libpq clients of this machine send when given no user; undefined where the OS has none to give. */
function osUserName(): string | undefined {
  try {
    return userInfo().username
  } catch {
    return undefined
  }
}
