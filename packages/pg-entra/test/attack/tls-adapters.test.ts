// The attack suite for the promise "the token leaves only through a verified socket": every adapter, through every
// way it lets the application add options (TypeORM `extra`, MikroORM `driverOptions`, Sequelize hooks and
// dialectOptions, Knex `connection`, pg-promise and Kysely pool options, postgres.js to an IP host), against
// impostors that record every byte they receive. Each attempt must fail with TLS_REQUIRED naming the cause, and no
// impostor may ever receive the token. The control test shows the impostors would have recorded it.
import { knex } from 'knex'
import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import pgPromise from 'pg-promise'
import { DataSource } from 'typeorm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { uniqueName, useEmulator } from '../../../../tools/test/emulator.js'
import { createCertificateAuthority } from '../../../emulator/src/pki/index.js'
import { knexConfig } from '../../src/adapters/knex.js'
import { mikroOrmOptions } from '../../src/adapters/mikro-orm.js'
import { Client, createPool, resolvePgConfig } from '../../src/adapters/pg.js'
import { pgPromiseConnection } from '../../src/adapters/pg-promise.js'
import { createPostgres } from '../../src/adapters/postgres.js'
import { prismaAdapter } from '../../src/adapters/prisma.js'
import { createSequelize } from '../../src/adapters/sequelize.js'
import { typeormOptions } from '../../src/adapters/typeorm.js'
import { entraAuth } from '../../src/auth/entra-auth.js'
import type { EntraAuth } from '../../src/auth/types.js'
import { isPgEntraError, type PgEntraError } from '../../src/errors/pg-entra-error.js'
import { type Impostor, startImpostor } from '../helpers/impostor.js'

type Emu = Awaited<ReturnType<typeof useEmulator>>

/** The PgEntraError in an ORM's error chain (ORMs wrap driver errors as `cause`, `parent` or `original`). */
function pgEntraErrorIn(error: unknown, depth = 0): PgEntraError | undefined {
  if (isPgEntraError(error)) return error
  if (depth > 6 || typeof error !== 'object' || error === null) return undefined
  for (const key of ['cause', 'parent', 'original', 'error']) {
    const found = pgEntraErrorIn((error as Record<string, unknown>)[key], depth + 1)
    if (found) return found
  }
  return undefined
}

async function failureOf(attempt: () => Promise<unknown>): Promise<unknown> {
  try {
    await attempt()
  } catch (error) {
    return error
  }
  throw new Error('the connection was expected to fail')
}

describe('attack: no adapter sends the token to an unverified server, whatever options are merged', () => {
  let emu: Emu
  let auth: EntraAuth
  let token: string
  let role: string
  /** Plain TCP, no TLS. */
  let plain: Impostor
  /** TLS with a certificate from a CA nobody trusts. */
  let untrusted: Impostor
  /** TLS with a certificate from a trusted CA that names only DNS:localhost, listening on 127.0.0.1. */
  let namesLocalhostOnly: Impostor
  let trustedCa: string
  const impostors = () => [plain, untrusted, namesLocalhostOnly]

  beforeAll(async () => {
    emu = await useEmulator()
    const sp = await emu.addPrincipal({ kind: 'servicePrincipal', name: uniqueName('attack') })
    role = sp.roleName!
    auth = entraAuth({
      tenantId: sp.tenantId,
      clientId: sp.appId!,
      clientSecret: sp.secret!,
      authorityHost: emu.authorityHost,
      authorityCa: emu.ca,
    })
    token = (await auth.token()).token // cached: every attempt below has a token at hand to send
    plain = await startImpostor('decline-tls')
    untrusted = await startImpostor(await (await createCertificateAuthority()).issueServerCertificate())
    const trusted = await createCertificateAuthority({ commonName: 'trusted CA' })
    trustedCa = trusted.caPem
    namesLocalhostOnly = await startImpostor(await trusted.issueServerCertificate({ dns: ['localhost'] }))
  })
  afterAll(async () => {
    for (const impostor of impostors()) await impostor?.close()
    await auth?.close()
  })

  const where = (impostor: Impostor) => ({ host: impostor.host, port: impostor.port, database: 'postgres' })

  /** Runs `attempt`, expects TLS_REQUIRED (naming `option` when given) and that no impostor saw the token. */
  async function refused(attempt: () => Promise<unknown>, option?: RegExp) {
    const error = await failureOf(attempt)
    const ours = pgEntraErrorIn(error)
    expect(ours?.code, String(error)).toBe('TLS_REQUIRED')
    expect(ours?.hint).toContain('allowUnverifiedTls')
    if (option) expect(`${ours?.message} ${String(ours?.details.option)}`).toMatch(option)
    for (const impostor of impostors()) {
      expect(impostor.received().includes(token)).toBe(false)
      expect(impostor.received().includes(token.split('.')[2]!)).toBe(false)
    }
  }

  it('control: the impostors record a password sent to them by plain pg', async () => {
    const before = plain.received().length
    const client = new pg.Client({ ...where(plain), user: 'x', password: 'control-password', ssl: false })
    await failureOf(() => client.connect())
    expect(plain.received().subarray(before).includes('control-password')).toBe(true)
  })

  it('plain pg handed auth.password: the password function itself checks the socket', async () => {
    const pool = new pg.Pool({ ...where(plain), user: role, password: auth.password, ssl: false, max: 1 })
    pool.on('error', () => {})
    await refused(() => pool.query('select 1'), /ssl: false/)
    await pool.end()
    const client = new pg.Client({
      ...where(untrusted),
      user: role,
      password: auth.password,
      ssl: { rejectUnauthorized: false },
    })
    client.on('error', () => {})
    await refused(() => client.connect(), /rejectUnauthorized/)
    await client.end().catch(() => {})
  })

  it('pg-entra/pg: verify-ca, a custom checkServerIdentity and ssl.servername are refused by name', async () => {
    const url = `postgres://${role}@${namesLocalhostOnly.host}:${namesLocalhostOnly.port}/postgres`
    const attempts: [object, RegExp][] = [
      [{ connectionString: `${url}?sslmode=verify-ca` }, /verify-ca/],
      [
        { ...where(namesLocalhostOnly), user: role, ssl: { ca: trustedCa, checkServerIdentity: () => undefined } },
        /checkServerIdentity/,
      ],
      [{ ...where(namesLocalhostOnly), user: role, ssl: { ca: trustedCa, servername: 'localhost' } }, /servername/],
    ]
    for (const [config, option] of attempts) {
      await refused(async () => {
        const pool = createPool({ ...config, entra: auth, max: 1 })
        pool.on('error', () => {})
        try {
          await pool.query('select 1')
        } finally {
          await pool.end()
        }
      }, option)
    }
    // An IP host is checked as an IP: a trusted certificate naming only DNS:localhost does not do for 127.0.0.1.
    const client = new Client({ ...where(namesLocalhostOnly), user: role, ssl: { ca: trustedCa }, entra: auth })
    client.on('error', () => {})
    await refused(() => client.connect())
  })

  it('postgres.js to an IP host: the certificate must name the IP (postgres.js alone checks "localhost")', async () => {
    const base = { ...where(namesLocalhostOnly), user: role, entra: auth, max: 1, connect_timeout: 20 }
    const url = `postgres://${role}@${namesLocalhostOnly.host}:${namesLocalhostOnly.port}/postgres`
    const saved = process.env.PGSSLROOTCERT
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs')
    const { join } = await import('node:path')
    const { tmpdir } = await import('node:os')
    const dir = mkdtempSync(join(tmpdir(), 'pg-entra-attack-'))
    const caPath = join(dir, 'ca.pem')
    writeFileSync(caPath, trustedCa)
    try {
      for (const open of [
        () => createPostgres({ ...base, ssl: { ca: trustedCa } }),
        () => {
          process.env.PGSSLROOTCERT = caPath
          return createPostgres({ ...base, ssl: 'require' })
        },
        () =>
          createPostgres(`${url}?sslmode=verify-full&sslrootcert=${encodeURIComponent(caPath)}`, {
            entra: auth,
            max: 1,
          }),
      ]) {
        const sql = await open()
        try {
          await refused(() => sql`select 1`)
        } finally {
          if (saved === undefined) delete process.env.PGSSLROOTCERT
          else process.env.PGSSLROOTCERT = saved
          await sql.end({ timeout: 1 })
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('TypeORM: `extra` merged over the checked ssl (ssl: false, rejectUnauthorized: false)', async () => {
    for (const [impostor, extra, option] of [
      [plain, { ssl: false }, /ssl: false/],
      [untrusted, { ssl: { rejectUnauthorized: false } }, /rejectUnauthorized/],
    ] as const) {
      const options = await typeormOptions({
        type: 'postgres',
        ...where(impostor),
        username: role,
        ssl: { ca: trustedCa },
        extra: { ...extra, max: 1 },
        entra: auth,
      })
      const dataSource = new DataSource(options)
      await refused(() => dataSource.initialize(), option)
      if (dataSource.isInitialized) await dataSource.destroy()
    }
  })

  it('MikroORM: its own driverOptions replace the checked connection.ssl', async () => {
    const { MikroORM, EntitySchema } = await import('@mikro-orm/postgresql')
    const Thing = new EntitySchema<{ id: number }>({
      name: 'AttackThing',
      properties: { id: { type: 'number', primary: true } },
    })
    const options = await mikroOrmOptions({ ...where(plain), user: role, ssl: { ca: trustedCa }, entra: auth })
    await refused(async () => {
      const orm = await MikroORM.init({
        ...options,
        driverOptions: { connection: { ssl: false } },
        entities: [Thing],
        pool: { min: 0, max: 1 },
        discovery: { warnWhenNoEntities: false },
      })
      try {
        await orm.em.getConnection().execute('select 1')
      } finally {
        await orm.close(true)
      }
    }, /ssl: false/)
  })

  it("Sequelize: the application's beforeConnect hook turns ssl off", async () => {
    const sequelize = await createSequelize({
      ...where(plain),
      username: role,
      dialectOptions: { ssl: { ca: trustedCa } },
      pool: { max: 1 },
      logging: false,
      hooks: {
        beforeConnect: (config) => {
          ;(config as { dialectOptions?: object }).dialectOptions = { ssl: false }
        },
      },
      entra: auth,
    })
    await refused(() => sequelize.authenticate(), /ssl: false/)
    await sequelize.close()
  })

  it('Knex: a provider wrapped by the application drops the checked ssl', async () => {
    const config = knexConfig({ connection: { ...where(plain), user: role, ssl: { ca: trustedCa } }, entra: auth })
    const ours = config.connection as () => Promise<Record<string, unknown>>
    const db = knex({
      ...config,
      connection: async () => ({ ...(await ours()), ssl: false }),
      acquireConnectionTimeout: 20_000,
    })
    await refused(() => db.raw('select 1'), /ssl: false/)
    await db.destroy()
  })

  it('pg-promise: the connection object spread with weaker ssl', async () => {
    const pgp = pgPromise()
    const connection = await pgPromiseConnection({
      ...where(untrusted),
      user: role,
      ssl: { ca: trustedCa },
      entra: auth,
    })
    const db = pgp({ ...connection, ssl: { rejectUnauthorized: false }, max: 1 })
    await refused(() => db.one('select 1'), /rejectUnauthorized/)
    pgp.end()
  })

  it('Kysely and Prisma on a pool the application built from the resolved config', async () => {
    const resolved = await resolvePgConfig({ ...where(plain), user: role, ssl: { ca: trustedCa }, entra: auth })
    const kysely = new Kysely<Record<string, never>>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ ...resolved, ssl: false, max: 1 }) }),
    })
    await refused(() => kysely.selectNoFrom((eb) => eb.lit(1).as('one')).execute(), /ssl: false/)
    await kysely.destroy()
    const pool = new pg.Pool({ ...resolved, ...where(untrusted), ssl: { rejectUnauthorized: false }, max: 1 })
    pool.on('error', () => {})
    const adapter = prismaAdapter(pool)
    await refused(async () => {
      const connected = await adapter.connect()
      try {
        await connected.queryRaw({ sql: 'select 1', args: [], argTypes: [] })
      } finally {
        await connected.dispose()
      }
    }, /rejectUnauthorized/)
    await pool.end()
  })

  it('the named opt-out lets a weak connection through (the impostor then sees the token)', async () => {
    const sp = await emu.addPrincipal({ kind: 'servicePrincipal', name: uniqueName('attack-optout') })
    const optedOut = entraAuth({
      tenantId: sp.tenantId,
      clientId: sp.appId!,
      clientSecret: sp.secret!,
      authorityHost: emu.authorityHost,
      authorityCa: emu.ca,
      allowUnverifiedTls: true,
    })
    const impostor = await startImpostor('decline-tls')
    try {
      const own = (await optedOut.token()).token
      const pool = createPool({ ...where(impostor), user: sp.roleName, ssl: false, entra: optedOut, max: 1 })
      pool.on('error', () => {})
      await failureOf(() => pool.query('select 1'))
      await pool.end()
      expect(impostor.received().includes(own)).toBe(true)
    } finally {
      await impostor.close()
      await optedOut.close()
    }
  })
})
