// pg-entra/mikro-orm: MikroORM 6 (Knex underneath) and MikroORM 7 (pg directly) with an Entra token as the password.
// MikroORM 6 turns a `password` function into Knex's connection-provider form, which Knex calls once (and again
// only when an `expirationChecker` says so): a token *string* returned there would be used forever. So the function
// here returns `{ password }` whose password is itself the token function: MikroORM hands it to Knex, Knex to pg, and
// pg calls it for every new connection, over TLS it checks. Nothing goes stale, so no expirationChecker is needed.
// `driverOptions` carries the TLS settings and a client class (MikroORM's own Knex dialect) whose `destroy()`, what
// `orm.close()` ends with, closes an EntraAuth made here. MikroORM replaces `driverOptions` wholesale when the
// application gives its own: merge ours in (the token still goes only over verified TLS: pg's socket is checked).
// MikroORM 7 hands `password` to pg, which calls it as `client.password()`, and merges `driverOptions` into pg's pool
// options: the same function then answers with the token, and `driverOptions.ssl`/`maxLifetimeSeconds` are pg's.
import type { EntraAuth } from '../auth/types.js'
import type { AuthHandle } from '../kernel/auth-handle.js'
import { type EntraClientConfig, type EntraPgOption, preparePgConfig } from './pg.js'
import { passwordAnsweringPg } from './pg-password.js'

/**
 * What MikroORM 6 accepts from a password function, typed as MikroORM declares it. At run time `password` is the
 * token *function*: MikroORM and Knex pass it through untouched, and pg calls it for every new connection.
 */
export interface DynamicPassword {
  password: string
  expirationChecker?: () => boolean
}

/**
 * The function to give MikroORM as `password` when you assemble its options yourself. MikroORM 6 calls it to build
 * Knex's connection (it gets the token function, for Knex to pass to pg); MikroORM 7 gives it to pg, which calls it
 * as a method for every new connection (it answers with the token, over a socket it checks).
 */
export function mikroOrmPassword(auth: EntraAuth): () => Promise<string> {
  // MikroORM 6 gets a DynamicPassword for Knex, whose password pg then calls
  const forKnex: DynamicPassword = { password: auth.password as unknown as string }
  return passwordAnsweringPg(auth, forKnex)
}

export interface MikroOrmEntraConfig extends EntraClientConfig {
  /** Entra options (`{}` reads AZURE_* and PG* from the environment) or an EntraAuth to share. */
  entra: EntraPgOption
  /** The MikroORM major the options are for (default: the `@mikro-orm/core` pg-entra resolves, as in an app). */
  mikroOrmMajor?: 6 | 7
  /** Knex's `pool.maxConnectionLifetimeMillis`: replace pooled connections after this long (default: never). */
  maxConnectionLifetimeMillis?: number
}

/** The connection part of MikroORM's options; spread it into `MikroORM.init({ ... })`. */
export interface MikroOrmConnectionOptions {
  host: string | undefined
  port: number | undefined
  dbName: string | undefined
  user: string
  /** See {@link mikroOrmPassword}. */
  password: () => Promise<string>
  /**
   * MikroORM 6: `connection` (Knex's, with the TLS settings), `pool.maxConnectionLifetimeMillis`, `client` (MikroORM's
   * Knex dialect, whose destroy closes an EntraAuth made here). MikroORM 7: pg's pool options (`ssl`,
   * `maxLifetimeSeconds`...). If you set `driverOptions` yourself, merge these in.
   */
  driverOptions: Record<string, unknown>
}

/**
 * MikroORM 6 options for an Entra connection: host, port, database and TLS from `config` (pg's fields, a connection
 * string or the PG* environment), the user from the token when not given (this fetches a token), and the token
 * function as the password of every new connection.
 */
export async function mikroOrmOptions(config: MikroOrmEntraConfig): Promise<MikroOrmConnectionOptions> {
  const { maxConnectionLifetimeMillis, mikroOrmMajor, ...pgConfig } = config
  const major = mikroOrmMajor ?? (await installedMajor())
  const { config: resolved, handle } = await preparePgConfig(pgConfig)
  const { host, port, database, user, password: _tokenFunction, ...connection } = resolved
  const base = { host, port, dbName: database, user, password: mikroOrmPassword(handle.auth) }
  if (major >= 7) {
    // pg's own pool options (MikroORM 7 merges driverOptions into them; a `connection` key there would be taken by
    // pg as its Connection object). orm.close() cannot close an EntraAuth made here: pass your own to close it.
    return {
      ...base,
      driverOptions: {
        ...connection,
        ...(maxConnectionLifetimeMillis ? { maxLifetimeSeconds: Math.ceil(maxConnectionLifetimeMillis / 1000) } : {}),
      },
    }
  }
  const client = await dialectClosing(handle)
  return {
    ...base,
    driverOptions: {
      connection,
      ...(maxConnectionLifetimeMillis ? { pool: { maxConnectionLifetimeMillis } } : {}),
      ...(client ? { client } : {}),
    },
  }
}

/** The major of the MikroORM installed beside pg-entra (6 when it cannot be told: Knex's shape). */
async function installedMajor(): Promise<number> {
  try {
    const { Utils } = (await import('@mikro-orm/core')) as { Utils: { getORMVersion(): string } }
    return Number.parseInt(Utils.getORMVersion(), 10) || 6
  } catch {
    return 6
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
