// Real MikroORM 6 (on its own Knex and pg) against the emulator with 4-second tokens and connections recycled every
// half second: mikroOrmOptions makes every new connection carry the current token; the naive
// `password: () => auth.password()` next to it keeps the first token forever (the trap this adapter exists for).
import { EntitySchema, MikroORM } from '@mikro-orm/postgresql'
import { afterAll, expect, it } from 'vitest'
import { shortLivedPrincipal, uniqueName, useEmulator } from '../../../../tools/test/emulator.js'
import { mikroOrmOptions } from '../../src/adapters/mikro-orm.js'
import { entraAuth } from '../../src/auth/entra-auth.js'
import type { EntraAuth } from '../../src/auth/types.js'

const Probe = new EntitySchema<{ id: number }>({ name: 'Probe', properties: { id: { type: 'number', primary: true } } })

const opened: MikroORM[] = []
const auths: EntraAuth[] = []
afterAll(async () => {
  await Promise.all(opened.map((orm) => orm.close(true)))
  await Promise.all(auths.map((auth) => auth.close()))
})

const pool = { min: 0, max: 1, idleTimeoutMillis: 200 }
const lifetimeMillis = 500

async function principalWithShortTokens(prefix: string) {
  const emu = await useEmulator()
  const name = uniqueName(prefix)
  const principal = await shortLivedPrincipal(emu, name, 4)
  const entra = {
    tenantId: emu.tenantId,
    clientId: principal.appId!,
    clientSecret: principal.secret!,
    authorityHost: emu.authorityHost,
    authorityCa: emu.ca,
  }
  return { emu, name, role: principal.roleName ?? name, entra }
}

/** Queries for at least `ms` (so that tokens roll over) and at least `minQueries` times, however slow the machine. */
async function queryFor(
  orm: MikroORM,
  ms: number,
  minQueries: number,
): Promise<{ queries: number; failures: string[] }> {
  const failures: string[] = []
  let queries = 0
  const deadline = Date.now() + ms
  while (Date.now() < deadline || queries < minQueries) {
    queries++
    try {
      await orm.em.getConnection().execute('select 1')
    } catch (error) {
      failures.push((error as Error).message)
    }
    await new Promise((resolve) => setTimeout(resolve, 150))
  }
  return { queries, failures }
}

it('new connections carry each new token with mikroOrmOptions; a plain password function stays on the first', async () => {
  const ours = await principalWithShortTokens('mikro-ours')
  const naive = await principalWithShortTokens('mikro-naive')
  const { emu } = ours

  const oursOrm = await MikroORM.init({
    ...(await mikroOrmOptions({
      entra: ours.entra,
      host: emu.pg.host,
      port: emu.pg.port,
      database: emu.pg.database,
      user: ours.role, // a service principal's token names no user
      ssl: { ca: emu.ca },
      maxConnectionLifetimeMillis: lifetimeMillis,
    })),
    entities: [Probe],
    pool,
  })
  opened.push(oursOrm)

  const naiveAuth = entraAuth(naive.entra)
  auths.push(naiveAuth)
  const naiveOrm = await MikroORM.init({
    host: emu.pg.host,
    port: emu.pg.port,
    dbName: emu.pg.database,
    user: naive.role,
    password: () => naiveAuth.password(),
    driverOptions: { connection: { ssl: { ca: emu.ca } }, pool: { maxConnectionLifetimeMillis: lifetimeMillis } },
    entities: [Probe],
    pool,
  })
  opened.push(naiveOrm)

  const [oursRun, naiveRun] = await Promise.all([queryFor(oursOrm, 9_000, 31), queryFor(naiveOrm, 9_000, 31)])

  const counters = await emu.counters()
  const used = (role: string) => new Set(counters.pg.byRole[role]?.tokenIds ?? [])
  const issued = (name: string) => counters.tokenRequests.byPrincipal[name]?.issued.length ?? 0

  expect(oursRun.failures).toEqual([])
  expect(oursRun.queries).toBeGreaterThan(30)
  expect(counters.pg.byRole[ours.role]?.accepted).toBeGreaterThan(5) // connections recycled throughout
  expect(used(ours.role).size).toBeGreaterThanOrEqual(3)
  expect(counters.pg.byRole[ours.role]?.rejected).toBe(0)

  // the trap: pg-entra refreshed the naive setup's token too, but MikroORM never asked again
  expect(issued(naive.name)).toBeGreaterThanOrEqual(3)
  expect(counters.pg.byRole[naive.role]?.accepted).toBeGreaterThan(5)
  expect(used(naive.role).size).toBe(1)
  expect(naiveRun.queries).toBeGreaterThan(30)
})
