import { describe, expect, it } from 'vitest'
import { uniqueName, useEmulator } from '../../../../tools/test/emulator.js'
import { Client, createPool } from '../../src/adapters/pg.js'
import { entraAuth } from '../../src/auth/entra-auth.js'
import { runPgChild } from './_pg-child.js'
import { emulatorAuthority, emulatorPg } from './_pg-helpers.js'

describe('pg-entra/pg with each kind of identity, against the emulator', () => {
  it("connects a pool as a service principal with a secret (the seed backend's options)", async () => {
    const emu = await useEmulator()
    const sp = await emu.addPrincipal({ kind: 'servicePrincipal', name: uniqueName('sp-secret') })
    const pool = createPool({
      ...emulatorPg(emu),
      user: sp.roleName,
      entra: { tenantId: sp.tenantId, clientId: sp.appId, clientSecret: sp.secret, ...emulatorAuthority(emu) },
    })
    try {
      const results = await Promise.all(Array.from({ length: 8 }, () => pool.query('select current_user as u')))
      expect(results.map((r) => r.rows[0].u)).toEqual(Array(8).fill(sp.roleName))
      const counters = await emu.counters()
      expect(counters.tokenRequests.byPrincipal[sp.name]?.requests).toBe(1)
      expect(counters.pg.byRole[sp.roleName!]?.accepted).toBeGreaterThanOrEqual(1)
    } finally {
      await pool.end()
    }
  })

  it('connects a Client as a service principal with a certificate', async () => {
    const emu = await useEmulator()
    const sp = await emu.addPrincipal({
      kind: 'servicePrincipal',
      name: uniqueName('sp-cert'),
      secret: false,
      certificate: true,
    })
    const client = new Client({
      ...emulatorPg(emu),
      user: sp.roleName,
      entra: {
        tenantId: sp.tenantId,
        clientId: sp.appId,
        certificatePath: sp.certificatePath,
        ...emulatorAuthority(emu),
      },
    })
    await client.connect()
    try {
      expect((await client.query('select current_user as u')).rows[0].u).toBe(sp.roleName)
      const log = await emu.requestLog()
      expect(
        log.some((entry) => entry.principal === sp.name && entry.credential === 'certificate' && entry.status === 200),
      ).toBe(true)
    } finally {
      await client.end()
    }
  })

  it('connects with workload identity (a federated token file)', async () => {
    const emu = await useEmulator()
    const sp = await emu.addPrincipal({
      kind: 'servicePrincipal',
      name: uniqueName('wi'),
      secret: false,
      federated: true,
    })
    const pool = createPool({
      ...emulatorPg(emu),
      user: sp.roleName,
      entra: {
        tenantId: sp.tenantId,
        clientId: sp.appId,
        federatedTokenFile: sp.federatedTokenFile,
        ...emulatorAuthority(emu),
      },
    })
    try {
      expect((await pool.query('select current_user as u')).rows[0].u).toBe(sp.roleName)
      const log = await emu.requestLog()
      expect(
        log.some((entry) => entry.principal === sp.name && entry.credential === 'federated' && entry.status === 200),
      ).toBe(true)
    } finally {
      await pool.end()
    }
  })

  it('derives the user from a user token (upn) when none is given', async () => {
    const emu = await useEmulator()
    const upn = `${uniqueName('ada')}@contoso.example`
    const user = await emu.addPrincipal({ kind: 'user', upn })
    const credential = {
      getToken: async () => ({ token: await emu.token(user.name), expiresOnTimestamp: Date.now() + 3_000_000 }),
    }
    const auth = entraAuth({ credential })
    const pool = createPool({ ...emulatorPg(emu), entra: auth })
    try {
      expect((await pool.query('select current_user as u')).rows[0].u).toBe(user.roleName)
      expect(await auth.principal()).toBe(upn)
    } finally {
      await pool.end()
      await auth.close()
    }
  })

  it('connects as a system-assigned managed identity from the environment, user from xms_mirid (child process)', async () => {
    const emu = await useEmulator()
    const mi = await emu.addPrincipal({ kind: 'managedIdentity', name: uniqueName('mi-sys'), assignment: 'system' })
    const env = emu.env({ profile: 'managed-identity', principal: mi.name })
    delete env.PGUSER // the user comes from the token
    const result = await runPgChild(env, { entra: {}, pg: {} })
    expect(result.output).toMatchObject({ ok: true, user: mi.roleName })
    expect(result.exitCode).toBe(0)
    expect((await emu.counters()).tokenRequests.byPrincipal[mi.name]?.requests).toBeGreaterThanOrEqual(1)
  })

  it('connects as a user-assigned managed identity chosen by clientId, through the IMDS endpoint (child process)', async () => {
    const emu = await useEmulator()
    const mi = await emu.addPrincipal({ kind: 'managedIdentity', name: uniqueName('mi-user'), assignment: 'user' })
    const result = await runPgChild(
      { AZURE_POD_IDENTITY_AUTHORITY_HOST: emu.managedIdentity.imdsHost },
      { entra: { managedIdentity: { clientId: mi.clientId } }, pg: emulatorPg(emu) },
    )
    expect(result.output).toMatchObject({ ok: true, user: mi.roleName })
    expect(result.exitCode).toBe(0)
  })

  it('takes a service principal and the PG* connection from the environment with entra: {} (child process)', async () => {
    const emu = await useEmulator()
    const sp = await emu.addPrincipal({ kind: 'servicePrincipal', name: uniqueName('sp-env') })
    const env = { ...emu.env({ profile: 'service-principal', principal: sp.name }), NODE_EXTRA_CA_CERTS: emu.caPath }
    const result = await runPgChild(env, { entra: {}, pg: {} })
    expect(result.output).toMatchObject({ ok: true, user: sp.roleName })
    expect(result.exitCode).toBe(0)
  })
})
