import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { resolvePostgres } from '../../src/adapters/postgres.js'
import { entraAuth } from '../../src/auth/entra-auth.js'
import type { EntraAuth } from '../../src/auth/types.js'
import { fakeJwt } from './_jwt.js'
import { rejected } from './_thrown.js'

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

describe('postgres.js TLS modes with an Entra token', () => {
  const resolveWith = (ssl: unknown, env: Record<string, string> = {}, allowUnverifiedTls = false) =>
    resolvePostgres(
      { entra: authFor({ upn: 'u@x' }, { allowUnverifiedTls }), ssl: ssl as never, user: 'u' },
      undefined,
      env,
    )

  it('opens every connection itself (verified TLS) for every mode that asks for TLS, where postgres.js would not verify', async () => {
    for (const ssl of ['require', undefined, true, 'verify-full']) {
      const { options } = await resolveWith(ssl)
      expect(options.ssl).toBe(false) // postgres.js does no TLS of its own: the socket it is given is already verified
      expect(typeof (options as { socket?: unknown }).socket).toBe('function')
    }
    expect((await resolveWith(undefined, { PGSSLMODE: 'require' })).options.ssl).toBe(false)
  })

  it.each([
    ['prefer', {}],
    ['allow', {}],
    ['verify-ca', {}],
    [false, {}],
    [{ rejectUnauthorized: false }, {}],
    [{ checkServerIdentity: () => undefined }, {}],
    [undefined, { PGSSLMODE: 'disable' }],
    [undefined, { PGSSLMODE: 'prefer' }],
    [undefined, { PGSSLMODE: 'no-verify' }],
    [undefined, { PGSSLMODE: 'verify-ca' }],
  ] as const)('refuses ssl %j with %j: TLS_REQUIRED', async (option, env) => {
    const error = await rejected(resolveWith(option, env))
    expect(error.code).toBe('TLS_REQUIRED')
    expect(error.hint).toContain('allowUnverifiedTls')
  })

  it('lets an explicit opt-out through', async () => {
    expect(typeof ((await resolveWith('prefer', {}, true)).options as { socket?: unknown }).socket).toBe('function')
    expect(typeof ((await resolveWith(false, {}, true)).options as { socket?: unknown }).socket).toBe('function')
  })

  it('refuses a custom socket next to entra', async () => {
    const auth = authFor({ upn: 'u@x' })
    const error = await rejected(resolvePostgres({ entra: auth, user: 'u', socket: () => null } as never))
    expect(error).toMatchObject({ code: 'INVALID_OPTION', details: { option: 'socket' } })
  })

  it('reads the URL with the same parser as every adapter: one host, no password echoed on a bad URL', async () => {
    const auth = authFor({ upn: 'u@x' })
    const several = await rejected(resolvePostgres('postgres://h1:5432,h2:5433/db', { entra: auth }, {}))
    expect(several.code).toBe('INVALID_OPTION')
    const bad = await rejected(resolvePostgres('postgres://u:s3cr%ZZet@h:99999/db', { entra: auth }, {}))
    expect(bad.code).toBe('INVALID_OPTION')
    expect(`${bad.message} ${bad.hint} ${String((bad as { cause?: unknown }).cause ?? '')}`).not.toContain('s3cr')
  })
})

describe('resolvePostgres', () => {
  it('hands postgres.js the token function, a user from the token and verified TLS', async () => {
    const auth = authFor({ upn: 'ada@contoso.example', idtyp: 'user' })
    const { url, options } = await resolvePostgres({ entra: auth, host: 'db.example', max: 3 }, undefined, {})
    expect(url).toBeUndefined()
    expect(options).toMatchObject({ host: 'db.example', max: 3, user: 'ada@contoso.example', ssl: false })
    expect(options.pass).toBe(auth.password)
    expect(options).not.toHaveProperty('entra')
    const pass = options.pass as () => Promise<string>
    expect(await pass()).toBe((await auth.token()).token)
  })

  it('accepts (undefined, options), as from an unset DATABASE_URL', async () => {
    const auth = authFor({ upn: 'ada@contoso.example' })
    const { url, options } = await resolvePostgres(undefined, { entra: auth, user: 'u' }, {})
    expect(url).toBeUndefined()
    expect(options).toMatchObject({ user: 'u', pass: auth.password, ssl: false })
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

  it('applies PGSSLMODE, which postgres.js ignores', async () => {
    const auth = authFor({ upn: 'ada@contoso.example' })
    const error = await rejected(resolvePostgres({ entra: auth }, undefined, { PGSSLMODE: 'prefer', PGUSER: 'u' }))
    expect(error.code).toBe('TLS_REQUIRED')
  })

  it('parses the URL into fields (no URL reaches postgres.js) and lets the ssl option win over its sslmode', async () => {
    const auth = authFor({ upn: 'ada@contoso.example' })
    const resolved = await resolvePostgres(`postgres://u@h:5433/db?sslmode=disable&sslrootcert=${caPath}`, {
      entra: auth,
      ssl: 'verify-full',
    })
    expect(resolved.url).toBeUndefined()
    expect(resolved.options).toMatchObject({ host: 'h', port: 5433, database: 'db', user: 'u', ssl: false })
  })

  it('reads PGUSERNAME (postgres.js) like PGUSER', async () => {
    const auth = authFor({ upn: 'ada@contoso.example' })
    expect((await resolvePostgres({ entra: auth }, undefined, { PGUSERNAME: 'pgusername' })).options.user).toBe(
      'pgusername',
    )
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
