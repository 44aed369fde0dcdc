import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { resolveEntraSsl } from '../../src/adapters/_pg-tls.js'
import { Client, createPool, entraAuthOf, resolvePgConfig } from '../../src/adapters/pg.js'
import { entraAuth } from '../../src/auth/entra-auth.js'
import { fakeJwt } from './_jwt.js'
import { rejected, thrown } from './_thrown.js'

const dir = mkdtempSync(join(tmpdir(), 'pg-entra-unit-'))
const caPath = join(dir, 'ca.pem')
writeFileSync(caPath, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n')

const credential = (claims: Record<string, unknown>) => ({
  getToken: async () => ({ token: fakeJwt(claims), expiresOnTimestamp: Date.now() + 3_600_000 }),
})

const closers: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const close of closers.splice(0)) await close()
})

describe('resolveEntraSsl', () => {
  it('verifies by default and reads sslrootcert', () => {
    expect(resolveEntraSsl(undefined, {}, false)).toBe(true)
    expect(resolveEntraSsl(true, { sslmode: 'verify-full' }, false)).toBe(true)
    expect(resolveEntraSsl(undefined, { sslrootcert: caPath }, false)).toEqual({
      ca: expect.stringContaining('BEGIN CERTIFICATE'),
    })
    expect(resolveEntraSsl(undefined, { sslrootcert: 'system' }, false)).toBe(true)
    expect(resolveEntraSsl({ ca: 'X' }, { sslrootcert: caPath }, false)).toEqual({ ca: 'X' })
    // pg's own reading of sslmode=require verifies; under uselibpqcompat it needs a CA (then it is verify-ca)
    expect(resolveEntraSsl(undefined, { sslmode: 'require' }, false)).toBe(true)
    const verifyCa = resolveEntraSsl(undefined, { sslmode: 'verify-ca', sslrootcert: caPath }, false)
    expect(typeof verifyCa === 'object' && typeof verifyCa.checkServerIdentity).toBe('function')
  })

  it.each([
    [false, {}, 'ssl: false'],
    [{ rejectUnauthorized: false }, {}, 'ssl.rejectUnauthorized: false'],
    [undefined, { sslmode: 'disable' }, 'sslmode=disable'],
    [undefined, { sslmode: 'prefer' }, 'sslmode=prefer'],
    [undefined, { sslmode: 'allow' }, 'sslmode=allow'],
    [undefined, { sslmode: 'no-verify' }, 'sslmode=no-verify'],
    [undefined, { sslmode: 'require', libpqCompat: true }, 'sslmode=require'],
    [undefined, { host: '/var/run/postgresql' }, 'host'],
  ])('refuses ssl %o with %o: TLS_REQUIRED naming %s and the opt-out', (ssl, fields, option) => {
    const error = thrown(() => resolveEntraSsl(ssl, fields, false))
    expect(error.code).toBe('TLS_REQUIRED')
    expect(error.details.option).toBe(option)
    expect(error.hint).toContain('allowUnverifiedTls: true')
  })

  it('lets the explicit opt-out through', () => {
    expect(resolveEntraSsl(false, {}, true)).toBe(false)
    expect(resolveEntraSsl(undefined, { sslmode: 'disable' }, true)).toBe(false)
    expect(resolveEntraSsl(undefined, { sslmode: 'require' }, true)).toEqual({ rejectUnauthorized: false })
  })

  it('names an unreadable sslrootcert', () => {
    const error = thrown(() => resolveEntraSsl(undefined, { sslrootcert: join(dir, 'missing.pem') }, false))
    expect(error.code).toBe('INVALID_OPTION')
    expect(error.details.option).toBe('sslrootcert')
  })
})

describe('resolvePgConfig', () => {
  it('parses the connection string into fields, keeps the password function and derives the user', async () => {
    const config = await resolvePgConfig({
      connectionString: `postgres://db.example.com:6432/orders?sslmode=verify-full&sslrootcert=${caPath}`,
      entra: { credential: credential({ idtyp: 'user', upn: 'ada@contoso.com' }) },
      max: 3,
    })
    closers.push(() => entraAuthOf(config)!.close())
    expect(config).toMatchObject({
      host: 'db.example.com',
      port: 6432,
      database: 'orders',
      user: 'ada@contoso.com',
      max: 3,
    })
    expect(config).not.toHaveProperty('connectionString')
    expect(typeof config.password).toBe('function')
    expect(await config.password()).toMatch(/^ey/)
    expect(config.ssl).toEqual({ ca: expect.stringContaining('BEGIN CERTIFICATE') })
  })

  it('lets explicit fields win over the connection string and the connection string over PG*', async () => {
    const auth = entraAuth({ credential: credential({ upn: 'x@y' }) })
    closers.push(() => auth.close())
    const saved = { ...process.env }
    process.env.PGHOST = 'env-host'
    process.env.PGDATABASE = 'env-db'
    process.env.PGUSER = 'env-user'
    try {
      const config = await resolvePgConfig({
        connectionString: 'postgres://url-host/url-db',
        user: 'explicit',
        entra: auth,
      })
      expect(config).toMatchObject({ host: 'url-host', database: 'url-db', user: 'explicit' })
      const fromEnv = await resolvePgConfig({ entra: auth })
      expect(fromEnv).toMatchObject({ host: 'env-host', database: 'env-db', user: 'env-user' })
    } finally {
      process.env = saved
    }
  })

  it('refuses a password next to entra, and leaves a config without entra alone', async () => {
    const error = await rejected(resolvePgConfig({ password: 'pw', entra: { credential: credential({}) } }))
    expect(error.code).toBe('INVALID_OPTION')
    expect(error.details.option).toBe('password')
    const plain = { host: 'h', password: 'pw' }
    expect(await resolvePgConfig(plain)).toEqual(plain)
  })

  it('refuses unverified TLS before any connection is made', async () => {
    expect((await rejected(resolvePgConfig({ ssl: false, entra: { credential: credential({}) } }))).code).toBe(
      'TLS_REQUIRED',
    )
    expect(thrown(() => createPool({ connectionString: 'postgres://h/db?sslmode=disable', entra: {} })).code).toBe(
      'TLS_REQUIRED',
    )
    expect(thrown(() => new Client({ ssl: { rejectUnauthorized: false }, entra: {} })).code).toBe('TLS_REQUIRED')
  })

  it('builds real pg objects', async () => {
    const pool = createPool({ host: '127.0.0.1', user: 'u', entra: { credential: credential({}) } })
    closers.push(() => pool.end())
    expect(pool).toBeInstanceOf(pg.Pool)
    const client = new Client({ host: '127.0.0.1', user: 'u', entra: { credential: credential({}) } })
    expect(client).toBeInstanceOf(pg.Client)
    const plain = createPool({ host: '127.0.0.1', password: 'pw' })
    closers.push(() => plain.end())
    expect(plain).toBeInstanceOf(pg.Pool)
  })
})
