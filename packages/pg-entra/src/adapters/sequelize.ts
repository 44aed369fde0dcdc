// pg-entra/sequelize: Sequelize 6 (dialect postgres) with an Entra token as the password.
// Sequelize copies its password into every connection config once; a token string handed to it at start-up
// expires. The supported way in is a `beforeConnect` hook, which Sequelize runs before every physical connect:
// pool growth, retries (sequelize #17411) and each read replica (sequelize #15979) alike. The hook here sets the token
// *function* as the password (and the user derived from the token) every time: Sequelize hands it to pg, which calls it
// with the socket in hand, so the token goes only over verified TLS whatever other hooks or dialectOptions change.
// Sequelize's pool has no maximum connection lifetime: `pool.maxLifetimeSeconds` adds one (an afterConnect stamp
// checked by pool.validate). Sequelize has no close hook: `createSequelize()` ties an EntraAuth made from options to
// `sequelize.close()`.
import type { ConnectionOptions, Options, PoolOptions, ReplicationOptions } from 'sequelize'
import type { EntraAuth, EntraAuthOptions } from '../auth/types.js'
import { PgEntraError } from '../errors/pg-entra-error.js'
import type { AuthHandle } from '../kernel/auth-handle.js'
import { type EntraClientConfig, preparePgConfig, type ResolvedPgConfig } from './pg.js'

export interface SequelizeEntraOptions extends Omit<Options, 'pool' | 'password'> {
  /** Entra options (`{}` reads AZURE_* and PG* from the environment) or an EntraAuth to share. */
  entra: EntraAuthOptions | EntraAuth
  /** A postgres:// URL (or libpq key=value string), parsed into fields; its sslmode and sslrootcert apply. */
  url?: string
  pool?: PoolOptions & {
    /** Replace a pooled connection once it is this old (checked when it is next acquired). Off by default. */
    maxLifetimeSeconds?: number
  }
  password?: never
}

type Hook<K extends 'beforeConnect' | 'afterConnect'> = NonNullable<NonNullable<Options['hooks']>[K]>

/**
 * Sequelize options for Azure Database for PostgreSQL with Entra: `new Sequelize(await sequelizeOptions({ entra: {} }))`.
 * Host, port, database, user and TLS come from the options, `url`, or PG* variables, as pg-entra/pg resolves them
 * (verified TLS; the user derived from the token when none is named).
 */
export async function sequelizeOptions(options: SequelizeEntraOptions): Promise<Options> {
  return (await prepareSequelize(options)).options
}

/**
 * `new Sequelize(...)` with Entra: `const sequelize = await createSequelize({ entra: {} })`. Loads Sequelize lazily;
 * `sequelize.close()` also closes an EntraAuth made here from options.
 */
export async function createSequelize(options: SequelizeEntraOptions): Promise<import('sequelize').Sequelize> {
  const { options: resolved, handle } = await prepareSequelize(options)
  try {
    const { Sequelize } = await import('sequelize')
    const sequelize = new Sequelize(resolved)
    const close = sequelize.close.bind(sequelize)
    sequelize.close = async () => {
      try {
        await close()
      } finally {
        await handle.release()
      }
    }
    return sequelize
  } catch (error) {
    await handle.release()
    throw error
  }
}

async function prepareSequelize(options: SequelizeEntraOptions): Promise<{ options: Options; handle: AuthHandle }> {
  const { entra, url, pool, hooks, dialectOptions, replication, ...rest } = options
  if (rest.dialect !== undefined && rest.dialect !== 'postgres') {
    throw new PgEntraError('INVALID_OPTION', `pg-entra/sequelize works with dialect "postgres", not "${rest.dialect}"`)
  }
  if ((options as { password?: unknown }).password !== undefined) {
    throw new PgEntraError('INVALID_OPTION', 'password is given together with entra', {
      hint: 'with entra the token is the password: remove password',
      details: { option: 'password' },
    })
  }
  const given = (dialectOptions ?? {}) as { ssl?: EntraClientConfig['ssl'] }
  const { config: resolved, handle } = await preparePgConfig({
    ...(url === undefined ? {} : { connectionString: url }),
    ...(rest.host === undefined ? {} : { host: rest.host }),
    ...(rest.port === undefined ? {} : { port: Number(rest.port) }),
    ...(rest.database === undefined ? {} : { database: rest.database }),
    ...(rest.username === undefined ? {} : { user: rest.username }),
    ...(given.ssl === undefined ? {} : { ssl: given.ssl }),
    entra,
  })
  const { password, user: username } = resolved
  const { maxLifetimeSeconds, ...poolOptions } = pool ?? {}
  const lifetime = connectionLifetime(maxLifetimeSeconds, poolOptions.validate)

  const sequelizeOptions: Options = {
    ...rest,
    dialect: 'postgres',
    host: resolved.host,
    port: resolved.port,
    database: resolved.database,
    username,
    dialectOptions: { ...fromEnvironment(resolved), ...dialectOptions, ssl: resolved.ssl },
    ...(replication ? { replication: withUsername(replication, username) } : {}),
    pool: { ...poolOptions, validate: lifetime.validate },
    hooks: {
      ...hooks,
      beforeConnect: chain(freshPassword(password, username), hooks?.beforeConnect),
      afterConnect: chain(lifetime.stamp as Hook<'afterConnect'>, hooks?.afterConnect),
    },
  }
  return { options: sequelizeOptions, handle }
}

/**
 * The beforeConnect hook: the token function as the password of every physical connection (pg calls it when the server
 * asks, over the socket it checks), non-enumerable so that util.inspect and JSON of Sequelize's config do not show it.
 */
export function freshPassword(password: () => Promise<string>, username: string | undefined): Hook<'beforeConnect'> {
  return async (config) => {
    Object.defineProperty(config, 'password', {
      value: password,
      enumerable: false,
      writable: true,
      configurable: true,
    })
    if (!config.username && username) config.username = username
  }
}

export interface ConnectionLifetime {
  stamp(connection: unknown): void
  validate(connection?: unknown): boolean
}

/** The slice of a pg Client the lifetime check listens to: its public 'error' and 'end' events. */
interface ConnectionEvents {
  once(event: 'end', listener: () => void): unknown
  on(event: 'error', listener: () => void): unknown
}

/**
 * Sequelize's missing maximum connection lifetime. `stamp` runs after each connect; `validate` (run by the pool when it
 * hands out an idle connection) refuses one older than `maxLifetimeSeconds`, or one that ended or failed (pg's public
 * 'end' and 'error' events, what Sequelize's own check reads from private fields), and otherwise defers to the given
 * validate.
 */
export function connectionLifetime(
  maxLifetimeSeconds: number | undefined,
  validate: ((connection?: unknown) => boolean) | undefined,
  now: () => number = Date.now,
): ConnectionLifetime {
  if (maxLifetimeSeconds !== undefined && !(maxLifetimeSeconds > 0)) {
    throw new PgEntraError(
      'INVALID_OPTION',
      `pool.maxLifetimeSeconds must be a positive number, got ${maxLifetimeSeconds}`,
    )
  }
  const openedAt = new WeakMap<object, number>()
  const broken = new WeakSet<object>()
  return {
    stamp(connection) {
      if (typeof connection !== 'object' || connection === null) return
      openedAt.set(connection, now())
      const events = connection as Partial<ConnectionEvents>
      if (typeof events.once === 'function') events.once('end', () => broken.add(connection))
      if (typeof events.on === 'function') events.on('error', () => broken.add(connection))
    },
    validate(connection) {
      if (typeof connection === 'object' && connection !== null) {
        if (broken.has(connection)) return false
        const opened = openedAt.get(connection)
        if (maxLifetimeSeconds !== undefined && opened !== undefined && now() - opened >= maxLifetimeSeconds * 1000) {
          return false
        }
      }
      return validate ? validate(connection) : true
    },
  }
}

function withUsername(replication: ReplicationOptions, username: string | undefined): ReplicationOptions {
  const fill = (connection: ConnectionOptions): ConnectionOptions => ({ username, ...connection })
  return { read: replication.read.map(fill), write: fill(replication.write) }
}

/** What PG* variables or the URL set that Sequelize reads from dialectOptions (and would otherwise not pass on). */
function fromEnvironment(resolved: ResolvedPgConfig): Record<string, unknown> {
  const picked: Record<string, unknown> = {}
  if (resolved.application_name !== undefined) picked.application_name = resolved.application_name
  if (resolved.options !== undefined) picked.options = resolved.options
  if (resolved.connectionTimeoutMillis !== undefined) picked.connectionTimeoutMillis = resolved.connectionTimeoutMillis
  return picked
}

/** One hook running `hooks` in order; Sequelize also accepts an array of hooks where one is typed. */
function chain<F extends (...args: never[]) => unknown>(...hooks: (F | F[] | undefined)[]): F {
  const present = hooks.flat().filter((hook): hook is F => typeof hook === 'function')
  return (async (...args: Parameters<F>) => {
    for (const hook of present) await hook(...args)
  }) as unknown as F
}
