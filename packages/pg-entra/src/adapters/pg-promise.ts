// pg-promise 12 builds its own pg.Pool (from the copy of pg it bundles) out of the connection object it is given, so
// this adapter resolves a plain pg config: the password as a function pg calls for every new connection, the user
// from the token when not given (pg needs it before it asks for a password), and verified TLS.
import type { checkServerIdentity } from 'node:tls'
import type pg from 'pg'
import { type EntraPgOption, type EntraPoolConfig, preparePgConfig, withEntra } from './pg.js'

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
  return (await preparePgConfig(config)).config as unknown as PgPromiseConnection
}

/** The slice of pg-promise's root (`pgPromise()`'s result) and database objects used here. */
type PgpLike<Db> = (connection: PgPromiseConnection) => Db
interface PgPromiseDatabaseLike {
  $pool: { end(): Promise<void> | void }
}

/**
 * `pgp(connection)` with Entra: `const db = await pgPromiseDatabase(pgp, { entra: {} })`. On its pool (`db.$pool`),
 * a refused login is retried once with a fresh token, and `db.$pool.end()` also closes an EntraAuth made here from
 * options. `pgp.end()` does not: pg-promise ends its pools through the end method it captured when it made them,
 * which nothing else can see (the EntraAuth's timers never keep the process alive; pass your own to close it).
 */
export async function pgPromiseDatabase<Db extends PgPromiseDatabaseLike>(
  pgp: PgpLike<Db>,
  config: PgPromiseEntraConfig,
): Promise<Db> {
  const { config: connection, prepared } = await preparePgConfig(config)
  try {
    const db = pgp(connection as unknown as PgPromiseConnection)
    withEntra(db.$pool as pg.Pool, prepared)
    return db
  } catch (error) {
    await prepared.handle.release()
    throw error
  }
}
