import { pgTable, serial } from 'drizzle-orm/pg-core'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { drizzlePg, drizzlePostgres } from '../../src/adapters/drizzle.js'
import { entraAuth } from '../../src/auth/entra-auth.js'
import type { EntraAuth } from '../../src/auth/types.js'
import { fakeJwt } from './_jwt.js'
import { rejected } from './_thrown.js'

const closers: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const close of closers.splice(0)) await close()
})

function auth(): EntraAuth {
  const made = entraAuth({
    credential: {
      getToken: async () => ({
        token: fakeJwt({ upn: 'ada@contoso.example' }),
        expiresOnTimestamp: Date.now() + 3_600_000,
      }),
    },
  })
  closers.push(() => made.close())
  return made
}

const items = pgTable('items', { id: serial('id').primaryKey() })

describe('drizzlePg', () => {
  it("queries through pg-entra/pg's Pool (a real pg.Pool whose connections take the token), schema passed on", async () => {
    const db = await drizzlePg({ entra: auth(), host: 'db.example', user: 'app' }, { schema: { items } })
    closers.push(() => db.$client.end())
    expect(db.$client).toBeInstanceOf(pg.Pool)
    expect(db.query.items).toBeDefined()
  })

  it('refuses what pg-entra/pg refuses (TLS off)', async () => {
    expect((await rejected(drizzlePg({ entra: auth(), host: 'h', ssl: false }))).code).toBe('TLS_REQUIRED')
  })
})

describe('drizzlePostgres', () => {
  it("queries through pg-entra/postgres's client (verified TLS, the token function as password)", async () => {
    const db = await drizzlePostgres(
      { url: 'postgres://app@db.example/shop?sslmode=require', entra: auth() },
      { schema: { items } },
    )
    closers.push(() => db.$client.end())
    expect(db.$client.options).toMatchObject({ user: 'app', database: 'shop', ssl: false })
    expect(typeof (db.$client.options as { socket?: unknown }).socket).toBe('function') // verified TLS, opened by pg-entra
    expect(typeof db.$client.options.pass).toBe('function')
    expect(db.query.items).toBeDefined()
  })

  it("refuses postgres.js's unverified modes", async () => {
    const error = await rejected(drizzlePostgres({ entra: auth(), host: 'h', user: 'u', ssl: 'prefer' }))
    expect(error.code).toBe('TLS_REQUIRED')
  })
})
