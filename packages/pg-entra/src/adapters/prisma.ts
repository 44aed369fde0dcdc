// Prisma 7 with @prisma/adapter-pg. Three traps handled here:
// - the adapter uses a pool only when `pool instanceof pg.Pool` holds for ITS copy of pg; a pool from another copy
//   is silently treated as a config. pg-entra builds the pool from the application's own pg and checks that the
//   adapter kept it.
// - its shadow-database path (`prisma migrate dev`) copies the pool's options with a spread, which drops pg-pool's
//   non-enumerable `password`, so the shadow connection would go out without a token. It is reimplemented here.
// - the Prisma CLI takes a static URL: `prismaDatasource()` gives prisma.config.ts one with a fresh token.
// @prisma/adapter-pg is loaded on first connect, so importing this module loads no Prisma code.
import { randomUUID } from 'node:crypto'
import type { PrismaPg as PrismaPgFactory } from '@prisma/adapter-pg'
import type { Pool } from 'pg'
import { parseConnectionString } from '../config/connection-string.js'
import { readPgEnv } from '../config/env.js'
import { PgEntraError } from '../errors/pg-entra-error.js'
import { createPool, type EntraPgOption, type EntraPoolConfig, preparePgConfig } from './pg.js'

type PrismaPgOptions = NonNullable<ConstructorParameters<typeof PrismaPgFactory>[1]>
/** The pool type as @prisma/adapter-pg declares it (it may carry its own copy of @types/pg). */
type AdapterPool = Extract<ConstructorParameters<typeof PrismaPgFactory>[0], { connect: unknown }>
type PrismaPgAdapter = Awaited<ReturnType<PrismaPgFactory['connect']>>

/** The factory Prisma's `new PrismaClient({ adapter })` takes; it behaves like `new PrismaPg(pool)`. */
export interface EntraPrismaPg {
  readonly provider: 'postgres'
  readonly adapterName: string
  /** The pg-entra pool every connection comes from (created on construction). */
  readonly pool: Pool
  connect(): Promise<PrismaPgAdapter>
  /** A temporary database for `prisma migrate dev`, reached with the same Entra password function. */
  connectToShadowDb(): Promise<PrismaPgAdapter>
}

const ADAPTER_NAME = '@prisma/adapter-pg'

export interface PrismaEntraConfig extends EntraPoolConfig {
  /** Entra options (`{}` reads AZURE_* and PG* from the environment) or an EntraAuth to share. */
  entra: EntraPgOption
}

/**
 * A Prisma driver adapter over a pg-entra pool. Pass pg's pool config with `entra` (or a pool made by
 * `createPool` from `pg-entra/pg`), and Prisma's adapter options as the second argument.
 */
export function prismaAdapter(poolOrConfig: PrismaEntraConfig | Pool, options?: PrismaPgOptions): EntraPrismaPg {
  const ownsPool = !isPool(poolOrConfig)
  const pool = ownsPool ? createPool(poolOrConfig) : poolOrConfig
  let factory: Promise<PrismaPgFactory> | undefined
  const load = () => {
    factory ??= loadPrismaPg().then((PrismaPg) => new PrismaPg(pool as unknown as AdapterPool, options))
    return factory
  }

  const connectOnPool = async (): Promise<PrismaPgAdapter> => {
    const adapter = await (await load()).connect()
    await assertSamePool(adapter, pool)
    return adapter
  }

  const connect = async (): Promise<PrismaPgAdapter> => {
    const adapter = await connectOnPool()
    if (ownsPool) {
      // `prisma.$disconnect()` disposes the adapter, which leaves a pool it was given alone: this one is ours to end
      // (and with it an EntraAuth made from options).
      const dispose = adapter.dispose.bind(adapter)
      adapter.dispose = async () => {
        try {
          await dispose()
        } finally {
          await pool.end()
        }
      }
    }
    return adapter
  }

  return {
    provider: 'postgres',
    adapterName: ADAPTER_NAME,
    pool,
    connect,
    async connectToShadowDb() {
      const main = await connectOnPool()
      const database = `prisma_migrate_shadow_db_${randomUUID()}`
      await main.executeScript(`CREATE DATABASE "${database}"`)
      const shadowPool = poolForDatabase(pool, database)
      // end the shadow pool first: a database with open sessions cannot be dropped (@prisma/adapter-pg drops first)
      const release = async () => {
        await shadowPool.end()
        try {
          await main.executeScript(`DROP DATABASE IF EXISTS "${database}"`)
        } finally {
          await main.dispose()
        }
      }
      try {
        const PrismaPg = await loadPrismaPg()
        const shadow = await new PrismaPg(shadowPool as unknown as AdapterPool, {
          ...options,
          disposeExternalPool: false,
        }).connect()
        await assertSamePool(shadow, shadowPool)
        const disposeShadow = shadow.dispose.bind(shadow)
        shadow.dispose = async () => {
          await disposeShadow()
          await release()
        }
        return shadow
      } catch (error) {
        await release().catch(() => {})
        throw error
      }
    },
  }
}

/**
 * A pool like `pool` on another database. pg-pool keeps `password` as a non-enumerable option, so it is carried over
 * explicitly (a `{ ...pool.options }` spread, as @prisma/adapter-pg does, would drop the password function).
 */
export function poolForDatabase(pool: Pool, database: string): Pool {
  const options = pool.options as unknown as Record<string, unknown>
  const PoolClass = pool.constructor as new (config: Record<string, unknown>) => Pool
  return new PoolClass({ ...options, password: options.password, database })
}

function isPool(value: unknown): value is Pool {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Pool).connect === 'function' &&
    typeof (value as Pool).end === 'function' &&
    typeof (value as { options?: unknown }).options === 'object'
  )
}

async function assertSamePool(adapter: PrismaPgAdapter, pool: Pool): Promise<void> {
  if ((adapter.underlyingDriver() as unknown) === pool) return
  await adapter.dispose()
  throw new PgEntraError(
    'INVALID_OPTION',
    '@prisma/adapter-pg did not accept the pg-entra pool: two copies of pg are installed',
    {
      hint: 'run `npm ls pg` and make @prisma/adapter-pg and your app resolve the same pg (npm dedupe, or an "overrides" entry)',
    },
  )
}

async function loadPrismaPg(): Promise<typeof PrismaPgFactory> {
  try {
    return (await import('@prisma/adapter-pg')).PrismaPg
  } catch (cause) {
    throw new PgEntraError('MISSING_DEPENDENCY', 'pg-entra/prisma needs @prisma/adapter-pg', {
      hint: 'npm install @prisma/adapter-pg pg',
      cause,
    })
  }
}

export interface PrismaDatasourceOptions {
  /** Entra options (`{}` reads AZURE_* and PG* from the environment) or an EntraAuth to share. */
  entra: EntraPgOption
  /** Where to connect (no password in it); PG* variables fill what it leaves out. */
  connectionString?: string
  host?: string
  port?: number
  database?: string
  /** The database role; derived from the token when not given. */
  user?: string
  /** Also give the CLI a `shadowDatabaseUrl` on this database (for `prisma migrate dev`). */
  shadowDatabase?: string
  /** PEM file of the CA that signed the server's certificate, when it is not a public one (default PGSSLROOTCERT). */
  sslRootCertPath?: string
  /** @internal The CLI's arguments (default process.argv). */
  argv?: readonly string[]
}

/** What Prisma's `defineConfig({ datasource })` takes. */
export interface PrismaDatasource {
  url?: string
  shadowDatabaseUrl?: string
}

/** Prisma CLI commands that never connect; they get no URL, so no token is fetched (e.g. `prisma generate` in CI). */
const OFFLINE_COMMANDS = new Set(['generate', 'format', 'validate', 'version', 'init', '-v', '--version'])

/** Whether the Prisma CLI command in `argv` (`[node, prisma, command, ...]`) may connect to the database. */
export function commandNeedsDatabase(argv: readonly string[]): boolean {
  const command = argv[2]
  return command === undefined || !OFFLINE_COMMANDS.has(command)
}

export interface PrismaUrlParts {
  host: string
  port: number
  database: string
  user: string
  password: string
  /** false: no TLS; 'unverified': TLS without certificate checks (only with an explicit opt-out). */
  tls: 'verified' | 'unverified' | false
  sslRootCertPath?: string | undefined
}

/**
 * A URL in the dialect of Prisma's schema engine: `sslmode=require` (which Prisma verifies unless told
 * `sslaccept=accept_invalid_certs`) and the CA file as `sslcert` (Prisma's name for the root certificate), repeated as
 * `sslrootcert` for libpq-style clients such as pg.
 */
export function prismaUrl(parts: PrismaUrlParts): string {
  const host = parts.host.includes(':') ? `[${parts.host}]` : parts.host
  const params = new URLSearchParams()
  if (parts.tls === false) {
    params.set('sslmode', 'disable')
  } else {
    params.set('sslmode', 'require')
    if (parts.tls === 'unverified') params.set('sslaccept', 'accept_invalid_certs')
    if (parts.sslRootCertPath) {
      params.set('sslcert', parts.sslRootCertPath)
      params.set('sslrootcert', parts.sslRootCertPath)
    }
  }
  const credentials = `${encodeURIComponent(parts.user)}:${encodeURIComponent(parts.password)}`
  return `postgresql://${credentials}@${host}:${parts.port}/${encodeURIComponent(parts.database)}?${params}`
}

/**
 * For prisma.config.ts: `datasource: await prismaDatasource()`. The Prisma CLI (`migrate`, `db push`, `studio`) takes a
 * static URL, so this puts a token fetched now into it; the CLI runs for minutes, well within a token's lifetime.
 * Commands that never connect (`generate`, `validate`, `format`) get an empty datasource and fetch nothing.
 * The URL holds a token: never print or store it.
 */
export async function prismaDatasource(options: PrismaDatasourceOptions): Promise<PrismaDatasource> {
  if (!commandNeedsDatabase(options.argv ?? process.argv)) return {}
  const { entra, shadowDatabase, sslRootCertPath, argv: _argv, ...fields } = options
  const { config: resolved, handle } = await preparePgConfig({ ...fields, entra })
  const auth = handle.auth
  try {
    const parts: PrismaUrlParts = {
      host: resolved.host ?? 'localhost',
      port: resolved.port ?? 5432,
      database: resolved.database ?? resolved.user,
      user: resolved.user,
      password: await auth.password(),
      tls:
        resolved.ssl === false
          ? false
          : typeof resolved.ssl === 'object' && resolved.ssl.rejectUnauthorized === false
            ? 'unverified'
            : 'verified',
      sslRootCertPath: caFile(
        sslRootCertPath ?? rootCertFromConnectionString(fields.connectionString) ?? readPgEnv(process.env).sslrootcert,
      ),
    }
    return {
      url: prismaUrl(parts),
      ...(shadowDatabase ? { shadowDatabaseUrl: prismaUrl({ ...parts, database: shadowDatabase }) } : {}),
    }
  } finally {
    await handle.release()
  }
}

/** libpq's `sslrootcert=system` means the default store: nothing to give Prisma. */
function caFile(path: string | undefined): string | undefined {
  return path && path !== 'system' ? path : undefined
}

function rootCertFromConnectionString(connectionString: string | undefined): string | undefined {
  return connectionString ? parseConnectionString(connectionString).sslrootcert : undefined
}
