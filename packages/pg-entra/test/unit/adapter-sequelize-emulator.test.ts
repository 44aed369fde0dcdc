// Real Sequelize with read replicas against the emulator, tokens of a few seconds: both pools keep connecting with the
// current token (sequelize #15979: replicas got none; #17411: retries re-used an expired one).
import { QueryTypes, Sequelize } from 'sequelize'
import { afterAll, expect, it } from 'vitest'
import { shortLivedPrincipal, uniqueName, useEmulator } from '../../../../tools/test/emulator.js'
import { sequelizeOptions } from '../../src/adapters/sequelize.js'

let sequelize: Sequelize | undefined
afterAll(async () => {
  await sequelize?.close()
})

it('read replicas and the writer get a fresh token on every new connection across rollovers', async () => {
  const emu = await useEmulator()
  const name = uniqueName('sequelize-replicas')
  const principal = await shortLivedPrincipal(emu, name, 4)
  const role = principal.roleName ?? name
  const server = { host: emu.pg.host, port: emu.pg.port }

  sequelize = new Sequelize(
    await sequelizeOptions({
      entra: {
        tenantId: emu.tenantId,
        clientId: principal.appId!,
        clientSecret: principal.secret!,
        authorityHost: emu.authorityHost,
        authorityCa: emu.ca,
      },
      database: emu.pg.database,
      username: role,
      dialectOptions: { ssl: { ca: emu.ca } },
      replication: { read: [server, server], write: server },
      pool: { max: 2, min: 0, maxLifetimeSeconds: 1 },
      logging: false,
    }),
  )

  const deadline = Date.now() + 11_000
  let failures = 0
  let reads = 0
  let writes = 0
  // At least 11 s (tokens roll over) and at least 11 of each, however slow the machine (failures end it: they fail).
  while ((Date.now() < deadline || reads <= 10 || writes <= 10) && failures < 20) {
    try {
      await sequelize.query('select 1', { type: QueryTypes.SELECT })
      reads++
      await sequelize.query('select 1', { type: QueryTypes.RAW, useMaster: true })
      writes++
    } catch {
      failures++
    }
    await new Promise((resolve) => setTimeout(resolve, 250))
  }

  const counters = await emu.counters()
  const connections = counters.pg.byRole[role]
  expect(failures).toBe(0)
  expect(reads).toBeGreaterThan(10)
  expect(writes).toBeGreaterThan(10)
  expect(connections?.rejected).toBe(0)
  // a connection at least every second for 11 s, with tokens of 4 s: several tokens in use
  expect(new Set(connections?.tokenIds).size).toBeGreaterThanOrEqual(3)
  const issued = counters.tokenRequests.byPrincipal[name]?.issued.map((token) => token.tokenId) ?? []
  const order = connections?.tokenIds.map((tokenId) => issued.indexOf(tokenId)) ?? []
  expect(order).not.toContain(-1)
  expect(order).toEqual([...order].sort((a, b) => a - b))
}, 40_000)
