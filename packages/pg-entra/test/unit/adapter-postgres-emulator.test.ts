// postgres.js against the emulator's Azure-like front: what the TLS mapping changes, shown on a real handshake.
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { uniqueName, useEmulator } from '../../../../tools/test/emulator.js'
import { createPostgres } from '../../src/adapters/postgres.js'
import type { EntraAuthOptions } from '../../src/auth/types.js'

type Emu = Awaited<ReturnType<typeof useEmulator>>
let emu: Emu
let role: string
let name: string
let entra: EntraAuthOptions

beforeAll(async () => {
  emu = await useEmulator()
  name = uniqueName('postgres-js-tls')
  const principal = await emu.addPrincipal({ kind: 'servicePrincipal', name })
  role = principal.roleName ?? name
  entra = {
    tenantId: emu.tenantId,
    clientId: principal.appId!,
    clientSecret: principal.secret!,
    authorityHost: emu.authorityHost,
    authorityCa: emu.ca,
  }
})

const acceptedFor = async (r: string) => (await emu.counters()).pg.byRole[r]?.accepted ?? 0

describe("postgres.js with ssl: 'require'", () => {
  const opened: postgres.Sql[] = []
  afterAll(async () => {
    for (const sql of opened) await sql.end({ timeout: 1 })
  })

  it('on its own connects to a server it cannot verify: the trap pg-entra closes', async () => {
    const sql = postgres({
      host: emu.pg.host,
      port: emu.pg.port,
      database: emu.pg.database,
      user: role,
      password: await emu.token(name),
      ssl: 'require',
      max: 1,
    })
    opened.push(sql)
    const [row] = await sql<{ one: number }[]>`select 1 as one`
    expect(row?.one).toBe(1)
  })

  it('through pg-entra refuses the same unverifiable server before the token is sent', async () => {
    const before = await acceptedFor(role)
    const sql = await createPostgres({
      entra,
      host: emu.pg.host,
      port: emu.pg.port,
      database: emu.pg.database,
      user: role,
      ssl: 'require',
      max: 1,
      connect_timeout: 5,
    })
    opened.push(sql)
    await expect(sql`select 1`).rejects.toMatchObject({
      code: 'TLS_REQUIRED',
      details: { reason: 'untrusted-certificate', tlsCode: expect.stringMatching(/SELF_SIGNED|UNABLE_TO_VERIFY|CERT/) },
    })
    expect(await acceptedFor(role)).toBe(before)
  })

  it('through pg-entra connects once the CA is trusted', async () => {
    const sql = await createPostgres({
      entra,
      host: emu.pg.host,
      port: emu.pg.port,
      database: emu.pg.database,
      user: role,
      ssl: { ca: emu.ca },
      max: 1,
    })
    opened.push(sql)
    const [row] = await sql<{ user: string }[]>`select current_user as user`
    expect(row?.user).toBe(role)
  })
})
