// Real TypeORM against the emulator: its `url` defeats a password function on its own; through pg-entra it works
// across token rollovers.
import { DataSource } from 'typeorm'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { shortLivedPrincipal, uniqueName, useEmulator } from '../../../../tools/test/emulator.js'
import { typeormOptions } from '../../src/adapters/typeorm.js'
import { entraAuth } from '../../src/auth/entra-auth.js'
import type { EntraAuth } from '../../src/auth/types.js'

type Emu = Awaited<ReturnType<typeof useEmulator>>
let emu: Emu
let name: string
let role: string
let auth: EntraAuth
let url: string
const sources: DataSource[] = []

beforeAll(async () => {
  emu = await useEmulator()
  name = uniqueName('typeorm-url')
  const principal = await shortLivedPrincipal(emu, name, 4)
  role = principal.roleName ?? name
  auth = entraAuth({
    tenantId: emu.tenantId,
    clientId: principal.appId!,
    clientSecret: principal.secret!,
    authorityHost: emu.authorityHost,
    authorityCa: emu.ca,
  })
  url = `postgres://${encodeURIComponent(role)}@${emu.pg.host}:${emu.pg.port}/${emu.pg.database}`
})

afterAll(async () => {
  for (const source of sources) if (source.isInitialized) await source.destroy()
  await auth?.close()
})

it('on its own, `url` with a password function cannot log in (pg drops the function)', async () => {
  const plain = new DataSource({ type: 'postgres', url, password: auth.password, ssl: { ca: emu.ca } })
  sources.push(plain)
  await expect(plain.initialize()).rejects.toMatchObject({ code: '28P01' })
})

it('through typeormOptions, `url` works and new connections carry each new token', async () => {
  const source = new DataSource(
    await typeormOptions({
      type: 'postgres',
      url,
      entra: auth,
      ssl: { ca: emu.ca },
      poolSize: 1,
      extra: { maxLifetimeSeconds: 1 },
    }),
  )
  sources.push(source)
  await source.initialize()
  const deadline = Date.now() + 9_000
  let queries = 0
  // At least 9 s (tokens roll over) and at least 11 queries, however slow the machine.
  while (Date.now() < deadline || queries <= 10) {
    const [row] = (await source.query('select current_user as role')) as { role: string }[]
    expect(row?.role).toBe(role)
    queries++
    await new Promise((resolve) => setTimeout(resolve, 300))
  }
  const connections = (await emu.counters()).pg.byRole[role]
  expect(queries).toBeGreaterThan(10)
  expect(new Set(connections?.tokenIds).size).toBeGreaterThanOrEqual(2)
}, 30_000)
