// pg-entra/knex: Knex 3 (client pg) with an Entra token as the password.
// Knex's documented way to rotate credentials is a connection provider with an `expirationChecker`, and it is easy
// to get wrong: Knex calls the provider once and then only when the checker says expired; after a refresh the checker
// must turn false at once or Knex throws ("still reported expired after refresh"); and each refresh makes Knex's
// pool validation discard a healthy connection. pg-entra needs none of it: the provider here runs once (to resolve
// the user from the token and check TLS), and the config it returns carries the token *function* as `password`,
// which pg calls for every new connection, so no expirationChecker is returned and nothing goes stale.
// Connection lifetime: Knex's `pool.maxConnectionLifetimeMillis` (Knex >= 3.2), passed through.
import type { Knex } from 'knex'
import { entraAuth, isEntraAuth } from '../auth/entra-auth.js'
import type { EntraAuth, EntraAuthOptions } from '../auth/types.js'
import { PgEntraError } from '../errors/pg-entra-error.js'
import { type EntraClientConfig, type ResolvedPgConfig, resolvePgConfig } from './pg.js'

const PG_CLIENTS = new Set(['pg', 'postgres', 'postgresql'])

export interface KnexEntraConfig extends Omit<Knex.Config, 'client' | 'connection'> {
  /** Knex's pg client (the default). */
  client?: 'pg' | 'postgres' | 'postgresql'
  /** A postgres:// URL (parsed into fields) or pg connection fields; PG* variables fill what is missing. */
  connection?: string | Omit<Knex.PgConnectionConfig, 'password' | 'expirationChecker'>
  /** Entra options (`{}` reads AZURE_* and PG* from the environment) or an EntraAuth to share. */
  entra: EntraAuthOptions | EntraAuth
}

/**
 * A Knex config for Azure Database for PostgreSQL with Entra: `knex(knexConfig({ entra: {}, pool: { ... } }))`.
 * Nothing is fetched until Knex opens its first connection; resolution errors (TLS_REQUIRED, USER_NOT_DERIVABLE...)
 * surface there, and a failed resolution is tried again on the next connection.
 */
export function knexConfig(config: KnexEntraConfig): Knex.Config {
  const { entra, connection, client = 'pg', ...rest } = config
  if (!PG_CLIENTS.has(client)) {
    throw new PgEntraError('INVALID_OPTION', `pg-entra/knex works with client "pg", not "${String(client)}"`)
  }
  return { ...rest, client, connection: knexConnection(connection, entra) }
}

/**
 * The connection provider on its own, for a Knex config you assemble yourself. It resolves once (again only after a
 * failure) and never returns an expirationChecker: the password function keeps every new connection's token fresh.
 */
export function knexConnection(
  connection: KnexEntraConfig['connection'],
  entra: EntraAuthOptions | EntraAuth,
): () => Promise<Knex.PgConnectionConfig> {
  const fields = typeof connection === 'string' ? { connectionString: connection } : { ...connection }
  if ((fields as { password?: unknown }).password !== undefined) {
    throw new PgEntraError('INVALID_OPTION', 'password is given together with entra', {
      hint: 'with entra the token is the password: remove connection.password',
      details: { option: 'connection.password' },
    })
  }
  // Made now: options are validated at once, and a retried resolution reuses the same token cache.
  const auth = isEntraAuth(entra) ? entra : entraAuth(entra)
  let resolved: Promise<ResolvedPgConfig> | undefined
  return async () => {
    resolved ??= resolvePgConfig({ ...(fields as EntraClientConfig), entra: auth }).catch((error: unknown) => {
      resolved = undefined
      throw error
    })
    // A copy each time: Knex keeps (and edits) what the provider returns.
    return { ...(await resolved) } as Knex.PgConnectionConfig
  }
}
