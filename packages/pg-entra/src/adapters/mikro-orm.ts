// MikroORM 6 turns a `password` function into Knex's connection-provider form: Knex calls it once and again only
// when the `expirationChecker` it returned says so, so a plain string would be used forever. This adapter returns
// `{ password, expirationChecker }` with a checker that turns true when pg-entra holds a newer token (or this one
// nears expiry) and false again right after the provider was asked, as Knex requires.
import type { EntraAuth } from '../auth/types.js'
import type { Clock } from '../shared/clock.js'
import { systemClock } from '../shared/clock.js'
import { type EntraClientConfig, type EntraPgOption, entraAuthOf, resolvePgConfig } from './pg.js'

/** What MikroORM 6 (and Knex) accept from a password function. */
export interface ExpiringPassword {
  password: string
  expirationChecker: () => boolean
}

export interface MikroOrmPasswordOptions {
  /** Ask for a new password this long before the token expires, at most half its remaining life (default 60 s). */
  expiryMarginMs?: number
  /** @internal Tests inject time. */
  clock?: Pick<Clock, 'now'>
}

const DEFAULT_EXPIRY_MARGIN_MS = 60_000
/** A newer token counts only once this much time has passed since hand-out (a refresh racing the provider call). */
const SUPERSEDE_SETTLE_MS = 1_000

/**
 * When a password handed out at `handedOutAt` for a token expiring at `expiresOn` should be asked for again:
 * `marginMs` before expiry, but never sooner than half the token's remaining life, so that a token just fetched never
 * reads as expired (Knex throws "Connection configuration still reported expired after refresh").
 */
export function passwordDeadline(expiresOn: number, handedOutAt: number, marginMs: number): number {
  const remaining = Math.max(0, expiresOn - handedOutAt)
  return expiresOn - Math.min(marginMs, remaining / 2)
}

/**
 * The function to give MikroORM 6 as `password`. Each call resolves the current token (no network call once one is
 * cached); its `expirationChecker` turns true once pg-entra holds a newer token or this one reaches its deadline.
 */
export function mikroOrmPassword(
  auth: EntraAuth,
  options: MikroOrmPasswordOptions = {},
): () => Promise<ExpiringPassword> {
  const clock = options.clock ?? systemClock
  const marginMs = options.expiryMarginMs ?? DEFAULT_EXPIRY_MARGIN_MS
  return async () => {
    const token = await auth.token()
    const handedOutAt = clock.now()
    const deadline = passwordDeadline(token.expiresOnTimestamp, handedOutAt, marginMs)
    return {
      password: token.token,
      expirationChecker: () => {
        const now = clock.now()
        if (now >= deadline) return true
        const current = auth.stats().expiresOn
        return current !== undefined && current > token.expiresOnTimestamp && now - handedOutAt >= SUPERSEDE_SETTLE_MS
      },
    }
  }
}

export interface MikroOrmEntraConfig extends EntraClientConfig, MikroOrmPasswordOptions {
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
  password: () => Promise<ExpiringPassword>
  /**
   * Merged by MikroORM into Knex's config: `connection` carries the TLS settings pg-entra checked, `pool` the
   * connection lifetime. If you set `driverOptions` yourself, merge these in.
   */
  driverOptions: { connection: Record<string, unknown>; pool?: { maxConnectionLifetimeMillis: number } }
}

/**
 * MikroORM 6 options for an Entra connection: host, port, database and TLS from `config` (pg's fields, a connection
 * string or the PG* environment), the user from the token when not given (this fetches a token), and a password
 * function whose result Knex asks for again after each refresh.
 */
export async function mikroOrmOptions(config: MikroOrmEntraConfig): Promise<MikroOrmConnectionOptions> {
  const { expiryMarginMs, clock, maxConnectionLifetimeMillis, ...pgConfig } = config
  const resolved = await resolvePgConfig(pgConfig)
  const auth = entraAuthOf(resolved)!
  const { host, port, database, user, password: _tokenFunction, ...connection } = resolved
  return {
    host,
    port,
    dbName: database,
    user,
    password: mikroOrmPassword(auth, { expiryMarginMs, clock }),
    driverOptions: {
      connection,
      ...(maxConnectionLifetimeMillis ? { pool: { maxConnectionLifetimeMillis } } : {}),
    },
  }
}
