import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { parsePostgresUrl, postgresSsl, resolvePostgres } from '../../src/adapters/postgres.js'
import { entraAuth } from '../../src/auth/entra-auth.js'
import type { EntraAuth } from '../../src/auth/types.js'
import { fakeJwt } from './_jwt.js'
import { rejected, thrown } from './_thrown.js'

const dir = mkdtempSync(join(tmpdir(), 'pg-entra-postgres-'))
const caPath = join(dir, 'ca.pem')
const caPem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'
writeFileSync(caPath, caPem)

const closers: EntraAuth[] = []
afterEach(async () => {
  for (const auth of closers.splice(0)) await auth.close()
})

/** An EntraAuth whose credential hands out tokens numbered 1, 2, ... for `claims`. */
function authFor(claims: Record<string, unknown>, options: { allowUnverifiedTls?: boolean } = {}) {
  let issued = 0
  const auth = entraAuth({
    ...options,
    credential: {
      getToken: async () => ({
        token: fakeJwt({ ...claims, n: ++issued }),
        expiresOnTimestamp: Date.now() + 3_600_000,
      }),
    },
  })
  closers.push(auth)
  return auth
}

describe('postgresSsl: postgres.js TLS modes with an Entra token', () => {
  it('verifies the server for every mode that asks for TLS, where postgres.js itself would not', () => {
    // postgres.js: 'require' sets rejectUnauthorized: false. Here it verifies.
    expect(postgresSsl('require', {}, false)).toBe('verify-full')
    expect(postgresSsl(undefined, {}, false)).toBe('verify-full')
    expect(postgresSsl(true, {}, false)).toBe('verify-full')
    expect(postgresSsl('verify-full', {}, false)).toBe('verify-full')
    expect(postgresSsl(undefined, { sslmode: 'require' }, false)).toBe('verify-full')
  })

  it('trusts the CA named by sslrootcert / PGSSLROOTCERT', () => {
    expect(postgresSsl('require', { sslrootcert: caPath }, false)).toEqual({ ca: caPem })
    expect(postgresSsl(undefined, { sslmode: 'verify-full', sslrootcert: caPath }, false)).toEqual({ ca: caPem })
    expect(postgresSsl({ ca: 'mine' }, { sslrootcert: caPath }, false)).toEqual({ ca: 'mine' })
    const verifyCa = postgresSsl(undefined, { sslmode: 'verify-ca', sslrootcert: caPath }, false)
    expect(verifyCa).toMatchObject({ ca: caPem, checkServerIdentity: expect.any(Function) })
  })

  it.each([
    ['prefer', {}],
    ['allow', {}],
    [false, {}],
    [{ rejectUnauthorized: false }, {}],
    [undefined, { sslmode: 'disable' }],
    [undefined, { sslmode: 'prefer' }],
    [undefined, { sslmode: 'no-verify' }],
  ] as const)('refuses ssl %j with %j: TLS_REQUIRED', (option, fields) => {
    const error = thrown(() => postgresSsl(option, fields, false))
    expect(error.code).toBe('TLS_REQUIRED')
    expect(error.hint).toContain('allowUnverifiedTls')
  })

  it('lets an explicit opt-out through unchanged in meaning', () => {
    expect(postgresSsl('require', {}, true)).toEqual({ rejectUnauthorized: false })
    expect(postgresSsl(false, {}, true)).toBe(false)
    expect(postgresSsl(undefined, { sslmode: 'disable' }, true)).toBe(false)
  })
})

describe('parsePostgresUrl', () => {
  it('takes the TLS parameters out (postgres.js would send sslrootcert to the server as a setting)', () => {
    const url = 'postgres://app%40corp@db.example:5433/shop?sslmode=require&sslrootcert=/ca.pem&application_name=x'
    expect(parsePostgresUrl(url)).toEqual({
      username: 'app@corp',
      sslmode: 'require',
      sslrootcert: '/ca.pem',
      sslcert: undefined,
      sslkey: undefined,
      withoutTlsParameters: 'postgres://app%40corp@db.example:5433/shop?application_name=x',
    })
  })

  it('reads several hosts as postgres.js does, and pg-style ssl=true', () => {
    const parsed = parsePostgresUrl('postgres://h1:5432,h2:5433/db?ssl=true')
    expect(parsed).toMatchObject({ username: undefined, sslmode: 'verify-full' })
    expect(parsed.withoutTlsParameters).toBe('postgres://h1:5432,h2:5433/db')
  })
})

describe('resolvePostgres', () => {
  it('hands postgres.js the token function, a user from the token and verified TLS', async () => {
    const auth = authFor({ upn: 'ada@contoso.example', idtyp: 'user' })
    const { url, options } = await resolvePostgres({ entra: auth, host: 'db.example', max: 3 }, undefined, {})
    expect(url).toBeUndefined()
    expect(options).toMatchObject({ host: 'db.example', max: 3, user: 'ada@contoso.example', ssl: 'verify-full' })
    expect(options.pass).toBe(auth.password)
    expect(options).not.toHaveProperty('entra')
    const pass = options.pass as () => Promise<string>
    expect(await pass()).toBe((await auth.token()).token)
  })

  it('accepts (undefined, options), as from an unset DATABASE_URL', async () => {
    const auth = authFor({ upn: 'ada@contoso.example' })
    const { url, options } = await resolvePostgres(undefined, { entra: auth, user: 'u' }, {})
    expect(url).toBeUndefined()
    expect(options).toMatchObject({ user: 'u', pass: auth.password, ssl: 'verify-full' })
  })

  it('takes the user from the options, the URL or PGUSER before the token', async () => {
    const auth = authFor({ upn: 'ada@contoso.example', idtyp: 'user' })
    expect((await resolvePostgres({ entra: auth, user: 'explicit' }, undefined, { PGUSER: 'env' })).options.user).toBe(
      'explicit',
    )
    expect((await resolvePostgres('postgres://fromurl@h/db', { entra: auth }, { PGUSER: 'env' })).options.user).toBe(
      'fromurl',
    )
    expect((await resolvePostgres({ entra: auth }, undefined, { PGUSER: 'env' })).options.user).toBe('env')
  })

  it('applies PGSSLMODE and PGSSLROOTCERT, which postgres.js ignores', async () => {
    const auth = authFor({ upn: 'ada@contoso.example' })
    const env = { PGSSLMODE: 'verify-full', PGSSLROOTCERT: caPath, PGUSER: 'u' }
    expect((await resolvePostgres({ entra: auth }, undefined, env)).options.ssl).toEqual({ ca: caPem })
    const error = await rejected(resolvePostgres({ entra: auth }, undefined, { PGSSLMODE: 'prefer', PGUSER: 'u' }))
    expect(error.code).toBe('TLS_REQUIRED')
  })

  it('strips the URL of what it applied and lets the ssl option win over the URL', async () => {
    const auth = authFor({ upn: 'ada@contoso.example' })
    const resolved = await resolvePostgres(`postgres://u@h:5432/db?sslmode=disable&sslrootcert=${caPath}`, {
      entra: auth,
      ssl: 'verify-full',
    })
    expect(resolved.url).toBe('postgres://u@h:5432/db')
    expect(resolved.options.ssl).toEqual({ ca: caPem })
  })

  it('honours the EntraAuth opt-out for unverified TLS', async () => {
    const auth = authFor({ upn: 'ada@contoso.example' }, { allowUnverifiedTls: true })
    const resolved = await resolvePostgres({ entra: auth, ssl: 'prefer', user: 'u' }, undefined, {})
    expect(resolved.options.ssl).toEqual({ rejectUnauthorized: false })
  })

  it('refuses a password next to entra, and a Unix socket', async () => {
    const auth = authFor({ upn: 'ada@contoso.example' })
    expect((await rejected(resolvePostgres({ entra: auth, password: 'x' }))).code).toBe('INVALID_OPTION')
    expect((await rejected(resolvePostgres({ entra: auth, path: '/tmp/.s.PGSQL.5432' }))).code).toBe('TLS_REQUIRED')
  })

  it('says which claims it found when the user cannot be derived (a service principal)', async () => {
    const auth = authFor({ appid: 'app-id', oid: 'object-id', idtyp: 'app' })
    expect((await rejected(resolvePostgres({ entra: auth }, undefined, {}))).code).toBe('USER_NOT_DERIVABLE')
  })

  it('leaves postgres.js alone without entra', async () => {
    const options = { host: 'h', password: 'secret', ssl: 'require' as const }
    expect(await resolvePostgres(options)).toEqual({ url: undefined, options, auth: undefined })
  })
})
