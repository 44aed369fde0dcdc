import { afterEach, describe, expect, it } from 'vitest'
import { knexConfig, knexConnection } from '../../src/adapters/knex.js'
import { entraAuth } from '../../src/auth/entra-auth.js'
import type { EntraAuth } from '../../src/auth/types.js'
import type { AccessToken } from '../../src/shared/access-token.js'
import { type ManualClock, manualClock } from '../../src/shared/manual-clock.js'
import { fakeJwt } from './_jwt.js'
import { rejected, thrown } from './_thrown.js'

const closers: EntraAuth[] = []
afterEach(async () => {
  for (const auth of closers.splice(0)) await auth.close()
})

function authWith(getToken: () => Promise<AccessToken>, clock?: ManualClock) {
  const auth = entraAuth({ credential: { getToken }, ...(clock ? { clock } : {}) })
  closers.push(auth)
  return auth
}

const userToken = async () => ({
  token: fakeJwt({ upn: 'ada@contoso.example', idtyp: 'user' }),
  expiresOnTimestamp: Date.now() + 3_600_000,
})

type Provider = () => Promise<Record<string, unknown>>

describe('knexConfig', () => {
  it("is Knex's pg client with a connection provider; the rest of the config passes through", () => {
    const config = knexConfig({ entra: authWith(userToken), pool: { min: 0, maxConnectionLifetimeMillis: 60_000 } })
    // Knex's own pg client, whose destroy() also closes an EntraAuth made from options
    expect(typeof config.client).toBe('function')
    expect(Object.getPrototypeOf(config.client as object).name).toBe('Client_PG')
    expect(typeof config.connection).toBe('function')
    expect(config.pool).toEqual({ min: 0, maxConnectionLifetimeMillis: 60_000 })
  })

  it('provides the token function as password, the user from the token, verified TLS, and no expirationChecker', async () => {
    const auth = authWith(userToken)
    const provide = knexConfig({ entra: auth, connection: { host: 'db.example', database: 'shop' } })
      .connection as Provider
    const settings = await provide()
    expect(settings).toMatchObject({ host: 'db.example', database: 'shop', user: 'ada@contoso.example', ssl: true })
    expect(settings.password).toBe(auth.password)
    // Without a checker Knex never calls the provider again; the function keeps each new connection's token fresh.
    expect(settings).not.toHaveProperty('expirationChecker')
  })

  it('resolves once, and hands Knex a fresh copy each time (Knex edits what it gets)', async () => {
    let calls = 0
    const auth = authWith(async () => {
      calls++
      return userToken()
    })
    const provide = knexConnection('postgres://db.example/shop', auth) as unknown as Provider
    const first = await provide()
    const second = await provide()
    expect(second).toEqual(first)
    expect(second).not.toBe(first)
    expect(calls).toBe(1)
  })

  it('tries again after a failed resolution (once the backoff has passed), with the same EntraAuth', async () => {
    const clock = manualClock(Date.now())
    let calls = 0
    const auth = authWith(async () => {
      calls++
      if (calls === 1) throw new Error('Entra did not answer')
      return { ...(await userToken()), expiresOnTimestamp: clock.now() + 3_600_000 }
    }, clock)
    const provide = knexConnection({ host: 'db.example' }, auth) as unknown as Provider
    expect((await rejected(provide())).code).toBe('TOKEN_UNAVAILABLE')
    clock.advance(60_000)
    await expect(provide()).resolves.toMatchObject({ user: 'ada@contoso.example' })
    expect(calls).toBe(2)
  })

  it('refuses a password, another client and unverified TLS', async () => {
    const auth = authWith(userToken)
    const withPassword = { host: 'h', password: 'x' } as unknown as Parameters<typeof knexConnection>[0]
    expect(thrown(() => knexConnection(withPassword, auth)).code).toBe('INVALID_OPTION')
    const mysql = { entra: auth, client: 'mysql2' } as unknown as Parameters<typeof knexConfig>[0]
    expect(thrown(() => knexConfig(mysql)).code).toBe('INVALID_OPTION')
    // checked when the config is made, not when Knex first connects
    expect(thrown(() => knexConnection({ host: 'h', ssl: { rejectUnauthorized: false } }, auth)).code).toBe(
      'TLS_REQUIRED',
    )
  })

  it('validates Entra options at once', () => {
    expect(thrown(() => knexConfig({ entra: { refreshBeforeMinutes: -1 } })).code).toBe('INVALID_OPTION')
  })
})
