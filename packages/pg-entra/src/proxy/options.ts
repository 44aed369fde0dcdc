import type { EntraAuth, EntraAuthOptions } from '../auth/types.js'
import type { ConnectionFields } from '../config/connection-fields.js'
import { parseConnectionString } from '../config/connection-string.js'
import { PgEntraError } from '../errors/pg-entra-error.js'
import { isLoopbackHost } from '../shared/loopback.js'

/** The server the proxy logs in to. */
export interface ProxyServerOptions {
  host: string
  /** Default 5432. */
  port?: number
  /** verify-full (the default) or verify-ca; anything weaker is refused unless allowUnverifiedTls. */
  sslmode?: string
  /** A PEM file of the CA(s) to trust; default: the roots Node trusts (Azure's certificates chain to them). */
  sslrootcert?: string
  /** PEM CA(s) to trust, given as text (e.g. pg-entra-emulator's `ca`). */
  ca?: string | Buffer
}

/** One line's worth about one client connection: never a token or a password. */
export interface ProxyConnectionEvent {
  time: string
  /** `127.0.0.1:51234`, or `unix` for the Unix socket. */
  client: string
  user?: string
  database?: string
  outcome: 'connected' | 'refused' | 'cancel'
  /**
   * Why it was refused: the SQLSTATE and message the client got; no code when the client hung up before the proxy
   * could answer (a client that requires TLS of the proxy).
   */
  code?: string
  reason?: string
}

export interface ProxyOptions {
  /** The server: a postgres:// URL or key=value string (host, port, sslmode, sslrootcert are read), or fields. */
  server: string | ProxyServerOptions
  /**
   * Where tokens come from: an EntraAuth to share (the proxy never closes it), or options for one of its own (every
   * identity entraAuth supports; `cache` for a token store shared with other processes). Default: the environment.
   */
  entra?: EntraAuth | EntraAuthOptions
  /** The address to listen on: 127.0.0.1 by default; anything but loopback needs allowNonLoopback. */
  host?: string
  /** The TCP port to listen on; 0 (the default) picks a free one (see `port` on the returned proxy). */
  port?: number
  /** Also listen on this Unix socket path, created with mode 0600 (only this user can connect). */
  unixSocket?: string
  /** Lets `host` be an address other machines can reach. Anyone who can connect logs in as the proxy's identity. */
  allowNonLoopback?: boolean
  /** When set, a client must send this password (compared in constant time) before the proxy connects upstream. */
  localPassword?: string
  /** The user for clients whose StartupMessage names none; default: the user derived from the token. */
  user?: string
  /** Lets a server without TLS, or with a certificate that does not verify, receive the token. Never on Azure. */
  allowUnverifiedTls?: boolean
  /**
   * Client connections at once, starting up or relaying; one more is refused with 53300 "sorry, too many clients
   * already" after its startup packet, and no server connection is opened for it (cancel requests are still
   * forwarded). Default: no limit.
   */
  maxConnections?: number
  /** How long to wait for the server's TCP and TLS (default 30 s). */
  connectTimeoutMs?: number
  /** Called once per client connection with its outcome (the CLI's --log-connections prints these). */
  onConnection?: (event: ProxyConnectionEvent) => void
}

export function checkListenHost(host: string, allowNonLoopback: boolean): void {
  if (allowNonLoopback || isLoopbackHost(host)) return
  throw new PgEntraError('INVALID_OPTION', `refusing to listen on ${host}: not a loopback address`, {
    hint:
      'anyone who can reach the proxy connects as its Entra identity: listen on 127.0.0.1 (the default) or ::1, or ' +
      'say allowNonLoopback: true (--allow-non-loopback) if this is really meant',
    details: { option: 'host' },
  })
}

export function checkMaxConnections(value: number | undefined): void {
  if (value === undefined || (Number.isInteger(value) && value >= 1)) return
  throw new PgEntraError('INVALID_OPTION', `maxConnections must be a whole number of at least 1, not ${value}`, {
    hint: 'e.g. maxConnections: 100 (--max-connections 100), or leave it out for no limit',
    details: { option: 'maxConnections' },
  })
}

/** The server's connection fields from a connection string or ProxyServerOptions; a host is required. */
export function serverFields(server: string | ProxyServerOptions): { fields: ConnectionFields; ca?: string | Buffer } {
  const fields: ConnectionFields =
    typeof server === 'string'
      ? parseConnectionString(server)
      : {
          host: server.host,
          ...(server.port !== undefined ? { port: server.port } : {}),
          ...(server.sslmode !== undefined ? { sslmode: server.sslmode } : {}),
          ...(server.sslrootcert !== undefined ? { sslrootcert: server.sslrootcert } : {}),
        }
  if (!fields.host) {
    throw new PgEntraError('INVALID_OPTION', 'the proxy needs the server host', {
      hint: 'give server as a postgres:// URL or { host }, e.g. myserver.postgres.database.azure.com',
      details: { option: 'server' },
    })
  }
  const ca = typeof server === 'string' ? undefined : server.ca
  return { fields, ...(ca !== undefined ? { ca } : {}) }
}
