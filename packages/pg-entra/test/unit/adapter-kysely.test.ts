// Real Kysely (PostgresDialect) on a pg-entra pool against the emulator: the user comes from the token, TLS is
// verified against the emulator's CA, `db.destroy()` ends the pool, and no token leaves without verified TLS.
import { Kysely, PostgresDialect, sql } from 'kysely'
import { expect, it } from 'vitest'
import { uniqueName, useEmulator } from '../../../../tools/test/emulator.js'
import { kyselyDialectConfig } from '../../src/adapters/kysely.js'
import type { AccessToken } from '../../src/shared/access-token.js'
import { thrown } from './_thrown.js'

/** An Entra user and a credential that gets its tokens from the emulator, as Entra would issue them. */
async function emulatorUser(prefix: string) {
  const emu = await useEmulator()
  const upn = `${uniqueName(prefix)}@contoso.example`
  await emu.addPrincipal({ kind: 'user', upn })
  let calls = 0
  const credential = {
    async getToken(): Promise<AccessToken> {
      calls++
      return { token: await emu.token(upn), expiresOnTimestamp: Date.now() + 3_600_000 }
    },
  }
  const server = { host: emu.pg.host, port: emu.pg.port, database: emu.pg.database }
  return { emu, upn, credential, server, calls: () => calls }
}

it('connects as the user named in the token, over TLS verified against the given CA', async () => {
  const { emu, upn, credential, server } = await emulatorUser('kysely-user')
  const db = new Kysely<Record<string, never>>({
    dialect: new PostgresDialect(
      kyselyDialectConfig({ entra: { credential }, ...server, ssl: { ca: emu.ca }, max: 2 }),
    ),
  })
  try {
    const { rows } = await sql<{ who: string }>`select current_user as who`.execute(db)
    expect(rows[0]?.who).toBe(upn)
  } finally {
    await db.destroy()
  }
  const counters = await emu.counters()
  expect(counters.pg.byRole[upn]).toMatchObject({ accepted: 1, rejected: 0 })
})

it('refuses to send the token without verified TLS, before fetching one', async () => {
  const { credential, server, calls } = await emulatorUser('kysely-no-tls')
  for (const tls of [
    { ssl: false },
    { ssl: { rejectUnauthorized: false } },
    { connectionString: 'postgresql://x@h/db?sslmode=prefer' },
  ]) {
    const error = thrown(() => kyselyDialectConfig({ entra: { credential }, ...server, ...tls }))
    expect(error.code).toBe('TLS_REQUIRED')
  }
  expect(calls()).toBe(0)
})
