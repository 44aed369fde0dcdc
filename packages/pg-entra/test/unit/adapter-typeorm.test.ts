import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { type TypeOrmEntraOptions, typeormOptions } from '../../src/adapters/typeorm.js'
import { entraAuth } from '../../src/auth/entra-auth.js'
import type { EntraAuth } from '../../src/auth/types.js'
import { fakeJwt } from './_jwt.js'
import { rejected } from './_thrown.js'

const closers: EntraAuth[] = []
afterEach(async () => {
  for (const auth of closers.splice(0)) await auth.close()
})

function authFor(claims: Record<string, unknown>) {
  const auth = entraAuth({
    credential: { getToken: async () => ({ token: fakeJwt(claims), expiresOnTimestamp: Date.now() + 3_600_000 }) },
  })
  closers.push(auth)
  return auth
}

describe('typeormOptions', () => {
  it('splits `url` into fields (pg drops a password function next to a connectionString) and sets the token function', async () => {
    const auth = authFor({ upn: 'ada@contoso.example' })
    const options = await typeormOptions({
      type: 'postgres',
      url: 'postgres://app@db.example:6432/shop?sslmode=verify-full',
      entra: auth,
      extra: { maxLifetimeSeconds: 600 },
      synchronize: false,
    })
    expect(options).not.toHaveProperty('url')
    expect(options).not.toHaveProperty('entra')
    expect(options).toMatchObject({
      type: 'postgres',
      host: 'db.example',
      port: 6432,
      database: 'shop',
      username: 'app',
      ssl: true,
      extra: { maxLifetimeSeconds: 600 },
      synchronize: false,
    })
    expect(options.password).toBe(auth.password)
  })

  it('gives TypeORM pg without pg.native (pg-native would turn the password function into text)', async () => {
    const options = await typeormOptions({ type: 'postgres', host: 'h', username: 'u', entra: authFor({}) })
    expect(Object.getPrototypeOf(options.driver.Pool)).toBe(pg.Pool) // pg's Pool with Entra's connect and end
    expect(options.driver.native).toBeNull()
    const mine = { Pool: pg.Pool }
    expect(
      (await typeormOptions({ type: 'postgres', host: 'h', username: 'u', entra: authFor({}), driver: mine })).driver,
    ).toBe(mine)
  })

  it("keeps TypeORM's precedence: the URL wins over the fields it names; the others stay", async () => {
    const auth = authFor({ upn: 'ada@contoso.example' })
    const options = await typeormOptions({
      type: 'postgres',
      url: 'postgres://db.example/shop',
      host: 'ignored.example',
      port: 7000,
      username: 'app',
      entra: auth,
    })
    expect(options).toMatchObject({ host: 'db.example', port: 7000, database: 'shop', username: 'app' })
  })

  it('derives the user from the token when neither the URL nor the fields name one', async () => {
    const auth = authFor({ upn: 'ada@contoso.example', idtyp: 'user' })
    const options = await typeormOptions({ type: 'postgres', host: 'db.example', database: 'shop', entra: auth })
    expect(options.username).toBe('ada@contoso.example')
  })

  it('does the same for the master and every replica, with one EntraAuth', async () => {
    const options = await typeormOptions({
      type: 'postgres',
      entra: {
        credential: {
          getToken: async () => ({
            token: fakeJwt({ upn: 'ada@contoso.example' }),
            expiresOnTimestamp: Date.now() + 3_600_000,
          }),
        },
      },
      replication: {
        master: { url: 'postgres://writer.example/shop' },
        slaves: [
          { url: 'postgres://reader.example/shop', username: 'reader' },
          { host: 'r2.example', database: 'shop' },
        ],
      },
    })
    const { master, slaves } = options.replication!
    expect(master).toMatchObject({
      host: 'writer.example',
      database: 'shop',
      username: 'ada@contoso.example',
      ssl: true,
    })
    expect(slaves[0]).toMatchObject({ host: 'reader.example', username: 'reader' })
    expect(slaves[1]).toMatchObject({ host: 'r2.example', username: 'ada@contoso.example' })
    expect(master).not.toHaveProperty('url')
    expect(typeof master.password).toBe('function')
    expect(slaves[0]!.password).toBe(master.password)
    expect(slaves[1]!.password).toBe(options.password)
    await (options.password as () => Promise<string>)()
  })

  it('refuses a password, another type and unverified TLS', async () => {
    const auth = authFor({ upn: 'ada@contoso.example' })
    const withPassword = { type: 'postgres', host: 'h', entra: auth, password: 'x' } as unknown as TypeOrmEntraOptions
    expect((await rejected(typeormOptions(withPassword))).code).toBe('INVALID_OPTION')
    const mysql = { type: 'mysql', entra: auth } as unknown as TypeOrmEntraOptions
    expect((await rejected(typeormOptions(mysql))).code).toBe('INVALID_OPTION')
    const unverified = typeormOptions({ type: 'postgres', url: 'postgres://u@h/db?sslmode=prefer', entra: auth })
    expect((await rejected(unverified)).code).toBe('TLS_REQUIRED')
  })
})
