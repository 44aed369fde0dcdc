// pg-promise 12 builds its own pg.Pool (from the copy of pg it bundles) out of the connection object it is given, so
// this adapter resolves a plain pg config: the password as a function pg calls for every new connection, the user
// from the token when not given (pg needs it before it asks for a password), and verified TLS.
import type { checkServerIdentity } from 'node:tls'
import { type EntraPgOption, type EntraPoolConfig, resolvePgConfig } from './pg.js'

/** The TLS options pg-entra sets, typed as pg-promise's connection object takes them. */
export interface PgPromiseSsl {
  ca?: string | Buffer | Array<string | Buffer>
  cert?: string | Buffer | Array<string | Buffer>
  key?: string | Buffer | Array<Buffer>
  rejectUnauthorized?: boolean
  checkServerIdentity?: typeof checkServerIdentity
  servername?: string
}

/**
 * pg-promise's connection object as pg-entra fills it: the fields below, and any other pg option you passed, as is
 * (pool options such as `max`, `idleTimeoutMillis` and `maxLifetimeSeconds` included).
 */
export interface PgPromiseConnection {
  host?: string
  port?: number
  database?: string
  user: string
  /** Called by pg for every new connection: the current token, fetched ahead of expiry. */
  password: () => Promise<string>
  ssl: boolean | PgPromiseSsl
  application_name?: string
  options?: string
  connectionTimeoutMillis?: number
  max?: number
  min?: number
  idleTimeoutMillis?: number
  maxLifetimeSeconds?: number
  maxUses?: number
  allowExitOnIdle?: boolean
}

export interface PgPromiseEntraConfig extends EntraPoolConfig {
  /** Entra options (`{}` reads AZURE_* and PG* from the environment) or an EntraAuth to share. */
  entra: EntraPgOption
}

/**
 * The connection object for `pgp(await pgPromiseConnection({ entra: {} }))` pg's pool options such as `max`, `idleTimeoutMillis` and `maxLifetimeSeconds` pass through
 * to the pool pg-promise creates. Resolving the user may fetch a token.
 */
export async function pgPromiseConnection(config: PgPromiseEntraConfig): Promise<PgPromiseConnection> {
  return (await resolvePgConfig(config)) as unknown as PgPromiseConnection
}
