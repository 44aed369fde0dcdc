// Real Knex against the emulator with tokens of a few seconds: its connection provider runs once, yet every new
// connection carries the current token, because the password pg-entra provides is a function pg calls per connection.
import knex, { type Knex } from 'knex'
import { afterAll, expect, it } from 'vitest'
import { shortLivedPrincipal, uniqueName, useEmulator } from '../../../../tools/test/emulator.js'
import { knexConfig } from '../../src/adapters/knex.js'

let db: Knex | undefined
afterAll(async () => {
  await db?.destroy()
})

it('resolves the connection once and still opens every new connection with the current token', async () => {
  const emu = await useEmulator()
  const name = uniqueName('knex-provider')
  const principal = await shortLivedPrincipal(emu, name, 4)
  const role = principal.roleName ?? name

  const config = knexConfig({
    entra: {
      tenantId: emu.tenantId,
      clientId: principal.appId!,
      clientSecret: principal.secret!,
      authorityHost: emu.authorityHost,
      authorityCa: emu.ca,
    },
    connection: { host: emu.pg.host, port: emu.pg.port, database: emu.pg.database, user: role, ssl: { ca: emu.ca } },
    pool: { min: 0, max: 1, maxConnectionLifetimeMillis: 1_000 },
  })
  const provide = config.connection as () => Promise<Knex.PgConnectionConfig>
  let provided = 0
  db = knex({
    ...config,
    connection: () => {
      provided++
      return provide()
    },
  })

  const deadline = Date.now() + 9_000
  let queries = 0
  // At least 9 s (tokens roll over) and at least 11 queries, however slow the machine.
  while (Date.now() < deadline || queries <= 10) {
    const { rows } = await db.raw<{ rows: { role: string }[] }>('select current_user as role')
    expect(rows[0]?.role).toBe(role)
    queries++
    await new Promise((resolve) => setTimeout(resolve, 300))
  }

  const connections = (await emu.counters()).pg.byRole[role]
  expect(queries).toBeGreaterThan(10)
  expect(provided).toBe(1)
  expect(connections?.rejected).toBe(0)
  expect(new Set(connections?.tokenIds).size).toBeGreaterThanOrEqual(2)
}, 30_000)
