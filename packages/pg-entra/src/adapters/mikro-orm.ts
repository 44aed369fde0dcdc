// pg-entra/mikro-orm: MikroORM 6 (Knex underneath) with an Entra token as the password.
// MikroORM 6 turns a `password` function into Knex's connection-provider form, which Knex calls once (and again
// only when an `expirationChecker` says so): a token *string* returned there would be used forever. So the function
// here returns `{ password }` whose password is itself the token function: MikroORM hands it to Knex, Knex to pg, and
// pg calls it for every new connection, over TLS it checks. Nothing goes stale, so no expirationChecker is needed.
// `driverOptions` carries the TLS settings and a client class (MikroORM's own Knex dialect) whose `destroy()`, what
// `orm.close()` ends with, closes an EntraAuth made here. MikroORM replaces `driverOptions` wholesale when the
// application gives its own: merge ours in (the token still goes only over verified TLS: pg's socket is checked).
import type { EntraAuth } from '../auth/types.js'
import type { AuthHandle } from '../kernel/auth-handle.js'
import { type EntraClientConfig, type EntraPgOption, preparePgConfig } from './pg.js'

/**
 * What MikroORM 6 accepts from a password function, typed as MikroORM declares it. At run time `password` is the
 * token *function*: MikroORM and Knex pass it through untouched, and pg calls it for every new connection.
 */
export interface DynamicPassword {
  password: string
  expirationChecker?: () => boolean
}

/** The function to give MikroORM 6 as `password` when you assemble its options yourself. */
export function mikroOrmPassword(auth: EntraAuth): () => Promise<DynamicPassword> {
  return async () => ({ password: auth.password as unknown as string })
}

export interface MikroOrmEntraConfig extends EntraClientConfig {
  /** Entra options (`{}` reads AZURE_* and PG* from the environment) or an EntraAuth to share. */
  entra: EntraPgOption
  /** Knex's `pool.maxConnectionLifetimeMillis`: replace pooled connections after this long (default: never). */
  maxConnectionLifetimeMillis?: number
}

/** The connection part of MikroORM's options; spread it into `MikroORM.init({ ... })`. */
export interface MikroOrmConnectionOptions {
  host: string | undefined
  port: number | undefined
  dbName: string | undefined
  user: string
  password: () => Promise<DynamicPassword>
  /**
   * Merged by MikroORM into Knex's config: `connection` carries the TLS settings pg-entra checked, `pool` the
   * connection lifetime, `client` MikroORM's Knex dialect whose destroy closes an EntraAuth made here. If you set
   * `driverOptions` yourself, merge these in.
   */
  driverOptions: {
    connection: Record<string, unknown>
    pool?: { maxConnectionLifetimeMillis: number }
    client?: unknown
  }
}

/**
 * MikroORM 6 options for an Entra connection: host, port, database and TLS from `config` (pg's fields, a connection
 * string or the PG* environment), the user from the token when not given (this fetches a token), and the token
 * function as the password of every new connection.
 */
export async function mikroOrmOptions(config: MikroOrmEntraConfig): Promise<MikroOrmConnectionOptions> {
  const { maxConnectionLifetimeMillis, ...pgConfig } = config
  const { config: resolved, handle } = await preparePgConfig(pgConfig)
  const { host, port, database, user, password: _tokenFunction, ...connection } = resolved
  const client = await dialectClosing(handle)
  return {
    host,
    port,
    dbName: database,
    user,
    password: mikroOrmPassword(handle.auth),
    driverOptions: {
      connection,
      ...(maxConnectionLifetimeMillis ? { pool: { maxConnectionLifetimeMillis } } : {}),
      ...(client ? { client } : {}),
    },
  }
}

type KnexDialect = new (...args: never[]) => { destroy(callback?: unknown): Promise<void> }

/** MikroORM's own Knex dialect for PostgreSQL, whose destroy also releases `handle`; undefined for a borrowed one. */
async function dialectClosing(handle: AuthHandle): Promise<KnexDialect | undefined> {
  if (!handle.owned) return undefined
  let Dialect: KnexDialect
  try {
    Dialect = (await import('@mikro-orm/knex')).PostgreSqlKnexDialect as unknown as KnexDialect
  } catch {
    return undefined // not MikroORM 6 with Knex: orm.close() then leaves the EntraAuth to the process
  }
  return class EntraPostgreSqlKnexDialect extends Dialect {
    override async destroy(callback?: unknown): Promise<void> {
      try {
        await super.destroy(callback)
      } finally {
        await handle.release()
      }
    }
  }
}
