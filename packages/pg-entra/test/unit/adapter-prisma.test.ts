// The parts of pg-entra/prisma that need no server: the CLI URL, which CLI commands get one, and the shadow pool's
// options (pg-pool hides `password`, so a spread of pool.options loses it).
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { commandNeedsDatabase, poolForDatabase, prismaDatasource, prismaUrl } from '../../src/adapters/prisma.js'
import type { AccessToken } from '../../src/shared/access-token.js'
import { rejected } from './_thrown.js'

const parts = {
  host: 'server.postgres.database.azure.com',
  port: 5432,
  database: 'app',
  user: 'app-identity',
  password: 'eyJ0eXAi.payload.sig',
  tls: 'verified' as const,
}

describe('prismaUrl', () => {
  it("speaks Prisma's engine dialect: sslmode=require, which Prisma verifies", () => {
    expect(prismaUrl(parts)).toBe(
      'postgresql://app-identity:eyJ0eXAi.payload.sig@server.postgres.database.azure.com:5432/app?sslmode=require',
    )
  })

  it('names a private CA as sslcert (Prisma) and sslrootcert (libpq, pg)', () => {
    const url = new URL(prismaUrl({ ...parts, sslRootCertPath: '/etc/ca dir/ca.pem' }))
    expect(url.searchParams.get('sslcert')).toBe('/etc/ca dir/ca.pem')
    expect(url.searchParams.get('sslrootcert')).toBe('/etc/ca dir/ca.pem')
  })

  it('encodes user names and brackets IPv6 hosts', () => {
    const url = prismaUrl({ ...parts, host: '::1', user: 'alice@contoso.com', database: 'my db' })
    expect(url).toMatch(/^postgresql:\/\/alice%40contoso\.com:[^@]+@\[::1\]:5432\/my%20db\?/)
    expect(decodeURIComponent(new URL(url).username)).toBe('alice@contoso.com')
  })

  it('says so when certificate checks were explicitly turned off, and disable means no TLS', () => {
    expect(prismaUrl({ ...parts, tls: 'unverified' })).toContain('sslmode=require&sslaccept=accept_invalid_certs')
    expect(prismaUrl({ ...parts, tls: false })).toContain('sslmode=disable')
  })
})

describe('commandNeedsDatabase', () => {
  it.each([
    [['node', 'prisma', 'generate'], false],
    [['node', 'prisma', 'validate'], false],
    [['node', 'prisma', 'format'], false],
    [['node', 'prisma', 'migrate', 'deploy'], true],
    [['node', 'prisma', 'db', 'push'], true],
    [['node', 'prisma', 'studio'], true],
    [['node', 'script.js'], true],
  ])('%j -> %s', (argv, expected) => {
    expect(commandNeedsDatabase(argv)).toBe(expected)
  })
})

describe('prismaDatasource', () => {
  function countingCredential() {
    let calls = 0
    return {
      credential: {
        async getToken(): Promise<AccessToken> {
          calls++
          return { token: `token-${calls}`, expiresOnTimestamp: Date.now() + 3_600_000 }
        },
      },
      calls: () => calls,
    }
  }
  const where = { host: '127.0.0.1', port: 6432, database: 'app', user: 'app-identity' }

  it('fetches no token for `prisma generate`', async () => {
    const { credential, calls } = countingCredential()
    const datasource = await prismaDatasource({ entra: { credential }, ...where, argv: ['node', 'prisma', 'generate'] })
    expect(datasource).toEqual({})
    expect(calls()).toBe(0)
  })

  it('puts a token fetched now in the URL for `prisma migrate`', async () => {
    const { credential, calls } = countingCredential()
    const datasource = await prismaDatasource({ entra: { credential }, ...where, argv: ['node', 'prisma', 'migrate'] })
    expect(datasource.url).toBe('postgresql://app-identity:token-1@127.0.0.1:6432/app?sslmode=require')
    expect(calls()).toBe(1)
  })

  it('refuses to put a token in a URL without verified TLS', async () => {
    const { credential, calls } = countingCredential()
    const error = await rejected(
      prismaDatasource({
        entra: { credential },
        connectionString: 'postgresql://app-identity@127.0.0.1:6432/app?sslmode=disable',
        argv: ['node', 'prisma', 'migrate'],
      }),
    )
    expect(error).toMatchObject({ code: 'TLS_REQUIRED' })
    expect(calls()).toBe(0)
  })
})

describe('poolForDatabase', () => {
  it("keeps the pool's hidden password function, which a spread of pool.options drops", async () => {
    const password = async () => 'token'
    const pool = new pg.Pool({ host: '127.0.0.1', database: 'app', password })
    const spread = { ...(pool.options as unknown as Record<string, unknown>) }
    expect(spread.password).toBeUndefined() // what @prisma/adapter-pg's shadow path gets

    const shadow = poolForDatabase(pool, 'shadow')
    const options = shadow.options as unknown as Record<string, unknown>
    expect(options.password).toBe(password)
    expect(options.database).toBe('shadow')
    expect(shadow).toBeInstanceOf(pg.Pool)
    await Promise.all([pool.end(), shadow.end()])
  })
})
