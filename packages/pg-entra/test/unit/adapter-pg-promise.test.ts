// Real pg-promise (which builds its pool from its own copy of pg) with pgPromiseConnection against the emulator:
// the password stays a function, so a connection opened after a refresh carries the new token.
import pgPromise from 'pg-promise'
import { afterAll, expect, it } from 'vitest'
import { uniqueName, useEmulator } from '../../../../tools/test/emulator.js'
import { pgPromiseConnection } from '../../src/adapters/pg-promise.js'
import { entraAuth } from '../../src/auth/entra-auth.js'
import type { AccessToken } from '../../src/shared/access-token.js'

const pgp = pgPromise()
afterAll(() => pgp.end())

it('derives the user, keeps the password a function, and new connections take the refreshed token', async () => {
  const emu = await useEmulator()
  const upn = `${uniqueName('pgp-user')}@contoso.example`
  await emu.addPrincipal({ kind: 'user', upn })
  const credential = {
    async getToken(): Promise<AccessToken> {
      return { token: await emu.token(upn), expiresOnTimestamp: Date.now() + 3_600_000 }
    },
  }
  const auth = entraAuth({ credential })
  const cn = await pgPromiseConnection({
    entra: auth,
    host: emu.pg.host,
    port: emu.pg.port,
    database: emu.pg.database,
    ssl: { ca: emu.ca },
    max: 1,
    maxLifetimeSeconds: 60,
  })
  expect(cn.user).toBe(upn)
  expect(typeof cn.password).toBe('function')
  expect(cn.ssl).toMatchObject({ ca: emu.ca })
  expect(cn.maxLifetimeSeconds).toBe(60)

  const db = pgp(cn)
  const who = async () => {
    const connection = await db.connect({ direct: true }) // a new connection, outside the pool
    try {
      return (await connection.one<{ who: string }>('select current_user as who')).who
    } finally {
      await connection.done()
    }
  }
  expect(await who()).toBe(upn)
  await auth.refresh()
  expect(await who()).toBe(upn)

  const byRole = (await emu.counters()).pg.byRole[upn]
  expect(byRole?.accepted).toBe(2)
  expect(new Set(byRole?.tokenIds).size).toBe(2)
  await auth.close()
})
