// pg-entra/knex: Knex 3 (client pg) with an Entra token as the password.
// Knex's documented way to rotate credentials is a connection provider with an `expirationChecker`, and it is easy
// to get wrong: Knex calls the provider once and then only when the checker says expired; after a refresh the checker
// must turn false at once or Knex throws ("still reported expired after refresh"); and each refresh makes Knex's
// pool validation discard a healthy connection. pg-entra needs none of it: the provider here runs once (to resolve
// the user from the token), and the config it returns carries the token *function* as `password`, which pg calls for
// every new connection over TLS it checks, so no expirationChecker is returned and nothing goes stale. A refused
// login makes the token be forgotten, and Knex's pool retries its create with a fresh one. The client class is Knex's
// own pg client, whose `destroy()` (what `knex.destroy()` calls) also closes an EntraAuth made here.
// Connection lifetime: Knex's `pool.maxConnectionLifetimeMillis` (Knex >= 3.2), passed through.
import knex, { type Knex } from 'knex'
import type { EntraAuth, EntraAuthOptions } from '../auth/types.js'
import { PgEntraError } from '../errors/pg-entra-error.js'
import { type ConnectionInput, type PreparedConnection, prepareConnection } from '../kernel/connection.js'
import { pgConfigOf } from './pg.js'

const PG_CLIENTS = new Set(['pg', 'postgres', 'postgresql'])

export interface KnexEntraConfig extends Omit<Knex.Config, 'client' | 'connection'> {
  /** Knex's pg client (the default). */
  client?: 'pg' | 'postgres' | 'postgresql'
  /** A postgres:// URL (parsed into fields) or pg connection fields; PG* variables fill what is missing. */
  connection?: string | Omit<Knex.PgConnectionConfig, 'password' | 'expirationChecker'>
  /** Entra options (`{}` reads AZURE_* and PG* from the environment) or an EntraAuth to share. */
  entra: EntraAuthOptions | EntraAuth
}

type KnexClientClass = new (config: Knex.Config) => Knex.Client
let pgDialect: KnexClientClass | undefined

/** Knex's own pg client class, as `knex({ client: 'pg' })` resolves it (no connection is opened). */
function knexPgClient(): KnexClientClass {
  pgDialect ??= knex({ client: 'pg' }).client.constructor as KnexClientClass
  return pgDialect
}

/**
 * A Knex config for Azure Database for PostgreSQL with Entra: `knex(knexConfig({ entra: {}, pool: { ... } }))`.
 * Options and TLS are checked now; the first token is fetched when Knex opens its first connection. `knex.destroy()`
 * closes an EntraAuth made here from options (one config, one knex instance).
 */
export function knexConfig(config: KnexEntraConfig): Knex.Config {
  const { entra, connection, client = 'pg', ...rest } = config
  if (!PG_CLIENTS.has(client)) {
    throw new PgEntraError('INVALID_OPTION', `pg-entra/knex works with client "pg", not "${String(client)}"`, {
      hint: "use client: 'pg' (Knex's PostgreSQL client), or leave client out",
      details: { option: 'client' },
    })
  }
  const prepared = prepare(connection, entra)
  const Base = knexPgClient()
  class EntraKnexClient extends Base {
    override async destroy(callback?: (error?: unknown) => void): Promise<void> {
      try {
        await super.destroy(callback)
      } finally {
        await prepared.handle.release()
      }
    }
  }
  return {
    ...rest,
    client: EntraKnexClient as unknown as typeof Knex.Client,
    connection: provider(connection, prepared),
  }
}

/**
 * The connection provider on its own, for a Knex config you assemble yourself (then pass an EntraAuth you close, or
 * accept that one made from options lives as long as the process). It resolves once (again only after a failure)
 * and never returns an expirationChecker: the password function keeps every new connection's token fresh.
 */
export function knexConnection(
  connection: KnexEntraConfig['connection'],
  entra: EntraAuthOptions | EntraAuth,
): () => Promise<Knex.PgConnectionConfig> {
  return provider(connection, prepare(connection, entra))
}

function prepare(connection: KnexEntraConfig['connection'], entra: EntraAuthOptions | EntraAuth): PreparedConnection {
  const input: ConnectionInput =
    typeof connection === 'string' ? { connectionString: connection } : { ...(connection as ConnectionInput) }
  return prepareConnection(input, entra)
}

function provider(
  connection: KnexEntraConfig['connection'],
  prepared: PreparedConnection,
): () => Promise<Knex.PgConnectionConfig> {
  const given = typeof connection === 'object' && connection !== null ? connection : {}
  let resolved: Promise<Knex.PgConnectionConfig> | undefined
  return async () => {
    resolved ??= prepared.resolveUser().then(
      (user) => ({ ...pgConfigOf(given as never, prepared), user }) as Knex.PgConnectionConfig,
      (error: unknown) => {
        resolved = undefined
        throw error
      },
    )
    // A copy each time: Knex keeps (and edits) what the provider returns.
    return { ...(await resolved) }
  }
}
