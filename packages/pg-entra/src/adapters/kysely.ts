// Kysely 0.28 with its PostgresDialect: all it needs is a pool, so this adapter hands it a pg-entra pool (password
// function, user from the token, verified TLS, one retry with a fresh token after 28P01). Kysely is never imported:
// the result is the plain config object `new PostgresDialect(...)` takes.
import type { Pool } from 'pg'
import { createPool, type EntraPgOption, type EntraPoolConfig } from './pg.js'

/** The slice of Kysely's PostgresDialectConfig this adapter fills. */
export interface EntraPostgresDialectConfig {
  pool: Pool
}

export interface KyselyEntraConfig extends EntraPoolConfig {
  /** Entra options (`{}` reads AZURE_* and PG* from the environment) or an EntraAuth to share. */
  entra: EntraPgOption
}

/**
 * `new PostgresDialect(kyselyDialectConfig({ entra: {} }))`. Options and TLS are checked now (nothing is fetched until
 * the first query); `db.destroy()` ends the pool, and with it an EntraAuth the pool made.
 */
export function kyselyDialectConfig(config: KyselyEntraConfig): EntraPostgresDialectConfig {
  return { pool: createPool(config) }
}
