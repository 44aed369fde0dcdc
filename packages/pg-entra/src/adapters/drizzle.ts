// pg-entra/drizzle: Drizzle ORM over pg (drizzle-orm/node-postgres) or postgres.js (drizzle-orm/postgres-js).
// Drizzle keeps no credentials of its own: it queries through the driver's pool, so the driver adapters do the work
// (pg-entra/pg's Pool, pg-entra/postgres's Sql). These helpers only build the driver client and hand it to Drizzle.
// Each loads its driver and Drizzle's matching module lazily: an app on postgres.js never loads pg, and vice versa.
// drizzle-kit (migrations) takes a static URL and is out of reach of a token function: see the docs.
import type { DrizzleConfig } from 'drizzle-orm'
import type { NodePgDatabase } from 'drizzle-orm/node-postgres'
import type { PostgresJsDatabase } from 'drizzle-orm/postgres-js'
import type { Pool } from 'pg'
import type { Sql } from 'postgres'
import type { EntraPoolConfig } from './pg.js'
import type { PostgresEntraOptions } from './postgres.js'

type Schema = Record<string, unknown>

/**
 * Drizzle on a pg Pool with Entra: `const db = await drizzlePg({ entra: {} }, { schema })`.
 * The pool is pg-entra/pg's createPool (token per new connection, user from the token, verified TLS, one retry with a
 * fresh token when the server refuses one); reach it as `db.$client`, end it with `db.$client.end()`.
 */
export async function drizzlePg<TSchema extends Schema = Record<string, never>>(
  config: EntraPoolConfig,
  drizzleConfig: DrizzleConfig<TSchema> = {},
): Promise<NodePgDatabase<TSchema> & { $client: Pool }> {
  const [{ createPool }, { drizzle }] = await Promise.all([import('./pg.js'), import('drizzle-orm/node-postgres')])
  return drizzle({ ...drizzleConfig, client: createPool(config) })
}

/**
 * Drizzle on postgres.js with Entra: `const db = await drizzlePostgres({ entra: {} }, { schema })` (`url` optional).
 * The client is pg-entra/postgres's createPostgres (token per new connection, user from the token, verified TLS
 * whatever `ssl` says); reach it as `db.$client`, end it with `db.$client.end()`.
 */
export async function drizzlePostgres<TSchema extends Schema = Record<string, never>>(
  options: PostgresEntraOptions & { url?: string },
  drizzleConfig: DrizzleConfig<TSchema> = {},
): Promise<PostgresJsDatabase<TSchema> & { $client: Sql }> {
  const [{ createPostgres }, { drizzle }] = await Promise.all([
    import('./postgres.js'),
    import('drizzle-orm/postgres-js'),
  ])
  const { url, ...rest } = options
  const client = url === undefined ? await createPostgres(rest) : await createPostgres(url, rest)
  return drizzle({ ...drizzleConfig, client })
}
