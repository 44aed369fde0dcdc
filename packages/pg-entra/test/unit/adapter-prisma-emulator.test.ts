// @prisma/adapter-pg against the emulator: the shadow database `prisma migrate dev` asks for, pools from a second copy
// of pg, and the URL prisma.config.ts hands the CLI.
import { createRequire } from 'node:module'
import { PrismaPg } from '@prisma/adapter-pg'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { uniqueName, useEmulator } from '../../../../tools/test/emulator.js'
import { prismaAdapter, prismaDatasource } from '../../src/adapters/prisma.js'
import { entraAuth } from '../../src/auth/entra-auth.js'
import { isPgEntraError } from '../../src/errors/pg-entra-error.js'

type Emu = Awaited<ReturnType<typeof useEmulator>>
const cleanup: (() => Promise<unknown>)[] = []
afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => {})
})

const query = (sql: string) => ({ sql, args: [], argTypes: [] })

async function adminPrincipal(prefix: string) {
  const emu = await useEmulator()
  const name = uniqueName(prefix)
  // an Entra admin: CREATEDB, as `prisma migrate dev` needs for its shadow database
  const principal = await emu.addPrincipal({ kind: 'servicePrincipal', name, role: { admin: true } })
  const role = principal.roleName ?? name
  const entra = {
    tenantId: emu.tenantId,
    clientId: principal.appId!,
    clientSecret: principal.secret!,
    authorityHost: emu.authorityHost,
    authorityCa: emu.ca,
  }
  const config = {
    entra,
    host: emu.pg.host,
    port: emu.pg.port,
    database: emu.pg.database,
    user: role,
    ssl: { ca: emu.ca },
  }
  return { emu, name, role, entra, config }
}

async function asAdmin<T>(emu: Emu, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({
    host: emu.pg.host,
    port: emu.pg.port,
    database: emu.pg.database,
    user: emu.pg.adminUser,
    password: emu.pg.adminPassword,
    ssl: { ca: emu.ca },
  })
  await admin.connect()
  try {
    return await work(admin)
  } finally {
    await admin.end()
  }
}

async function dropShadowDatabasesOf(emu: Emu, role: string): Promise<void> {
  await asAdmin(emu, async (admin) => {
    const { rows } = await admin.query<{ datname: string }>(
      `select datname from pg_database where datname like 'prisma_migrate_shadow_db_%'
       and datdba = (select oid from pg_roles where rolname = $1)`,
      [role],
    )
    for (const { datname } of rows) await admin.query(`drop database if exists "${datname}" with (force)`)
  })
}

async function databaseExists(emu: Emu, database: string): Promise<boolean> {
  return asAdmin(emu, async (admin) => {
    const { rowCount } = await admin.query('select 1 from pg_database where datname = $1', [database])
    return rowCount === 1
  })
}

describe('prismaAdapter', () => {
  it('opens the shadow database with the Entra token and drops it on dispose', async () => {
    const { emu, role, config } = await adminPrincipal('prisma-shadow')
    const adapter = prismaAdapter(config)
    cleanup.push(() => adapter.pool.end())

    const shadow = await adapter.connectToShadowDb()
    const result = await shadow.queryRaw(query('select current_database() as db, current_user as who'))
    const [db, who] = result.rows[0] as [string, string]
    expect(db).toMatch(/^prisma_migrate_shadow_db_/)
    expect(who).toBe(role)
    expect(await databaseExists(emu, db)).toBe(true)

    await shadow.dispose()
    expect(await databaseExists(emu, db)).toBe(false)
    const counters = await emu.counters()
    expect(counters.pg.byRole[role]?.rejected).toBe(0)
  })

  it('control: upstream PrismaPg over a pg.Pool with a password function loses it on the shadow path', async () => {
    const { emu, role, config } = await adminPrincipal('prisma-shadow-upstream')
    const { entra, ...plain } = config
    const auth = entraAuth(entra)
    cleanup.push(() => auth.close())
    const pool = new pg.Pool({ ...plain, password: auth.password })
    cleanup.push(() => pool.end())
    cleanup.push(() => dropShadowDatabasesOf(emu, role)) // created before the failing connect

    // @prisma/adapter-pg declares its own copy of @types/pg
    const shadow = await new PrismaPg(pool as unknown as ConstructorParameters<typeof PrismaPg>[0]).connectToShadowDb()
    await expect(shadow.queryRaw(query('select 1'))).rejects.toThrow()
    const counters = await emu.counters()
    expect(counters.pg.byRole[role]?.accepted).toBe(1) // the main connection, with the token
    expect(counters.pg.byRole[role]?.rejected).toBe(1) // the shadow one, without
  })

  it('refuses a pool from a second copy of pg, which @prisma/adapter-pg would silently treat as a config', async () => {
    const { config } = await adminPrincipal('prisma-two-pgs')
    const otherPg = createRequire(createRequire(import.meta.url).resolve('pg-promise'))('pg') as typeof pg
    expect(otherPg.Pool).not.toBe(pg.Pool)
    const { entra: _entra, ...plain } = config
    const foreign = new otherPg.Pool({ ...plain, password: 'unused' })
    cleanup.push(() => foreign.end())

    const adapter = prismaAdapter(foreign)
    const error = await adapter.connect().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(isPgEntraError(error) && error.code).toBe('INVALID_OPTION')
    expect((error as Error).message).toContain('two copies of pg')
  })
})

describe('prismaDatasource', () => {
  it('gives the CLI a URL whose token connects', async () => {
    const { emu, name, role, config } = await adminPrincipal('prisma-cli')
    const { ssl: _ssl, ...fields } = config // TLS: sslmode (none here: verified by default) and the CA file
    const datasource = await prismaDatasource({
      ...fields,
      sslRootCertPath: emu.caPath,
      shadowDatabase: 'shadow_here',
      argv: ['node', 'prisma', 'migrate', 'dev'],
    })
    const url = new URL(datasource.url!)
    expect(url.username).toBe(encodeURIComponent(role))
    expect(url.searchParams.get('sslmode')).toBe('require')
    expect(url.searchParams.get('sslcert')).toBe(emu.caPath)
    expect(new URL(datasource.shadowDatabaseUrl!).pathname).toBe('/shadow_here')

    const client = new pg.Client({ connectionString: datasource.url })
    await client.connect()
    const { rows } = await client.query('select current_user as who')
    await client.end()
    expect(rows[0].who).toBe(role)
    const counters = await emu.counters()
    expect(counters.pg.byRole[role]?.tokenIds).toEqual(
      counters.tokenRequests.byPrincipal[name]?.issued.map((token) => token.tokenId),
    )
  })
})
