import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { uniqueName, useEmulator } from '../../../../tools/test/emulator.js'
import { Client, createPool } from '../../src/adapters/pg.js'
import { entraAuth } from '../../src/auth/entra-auth.js'
import { isPgEntraError, type PgEntraError } from '../../src/errors/pg-entra-error.js'
import type { AccessToken } from '../../src/shared/access-token.js'
import { type Emu, emulatorAuthority, emulatorPg } from './_pg-helpers.js'

async function failure(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise
  } catch (error) {
    return error as Error & { code?: string }
  }
  throw new Error('expected a failure')
}

async function pgEntraFailure(promise: Promise<unknown>): Promise<PgEntraError> {
  const error = await failure(promise)
  if (!isPgEntraError(error)) throw error
  return error
}

/** A credential that hands out the principal's real tokens, except the first `bad` calls: tokens the server refuses. */
function credentialWithBadFirst(
  emu: Emu,
  principal: { name: string; objectId: string; tenantId: string },
  bad: number,
) {
  let calls = 0
  return {
    calls: () => calls,
    async getToken(): Promise<AccessToken> {
      calls++
      const token =
        calls <= bad
          ? await emu.mintToken({ oid: principal.objectId, tid: principal.tenantId, idtyp: 'app' }, { key: 'foreign' })
          : await emu.token(principal.name)
      return { token, expiresOnTimestamp: Date.now() + 3_000_000 }
    },
  }
}

describe('pg-entra/pg behaviour against the emulator', () => {
  it('replaces a token the server refuses: the pool retries once, a Client reports it and the next Client gets a fresh one', async () => {
    const emu = await useEmulator()
    const sp = await emu.addPrincipal({ kind: 'servicePrincipal', name: uniqueName('retry') })
    const poolCredential = credentialWithBadFirst(emu, sp, 1)
    const pool = createPool({ ...emulatorPg(emu), user: sp.roleName, entra: { credential: poolCredential } })
    try {
      expect((await pool.query('select current_user as u')).rows[0].u).toBe(sp.roleName)
      expect(poolCredential.calls()).toBe(2)
    } finally {
      await pool.end()
    }
    // pg connects a Client once: no retry on the same object (that would need pg's private fields), but the refused
    // token is forgotten, so a new Client carries a fresh one.
    const clientCredential = credentialWithBadFirst(emu, sp, 1)
    const auth = entraAuth({ credential: clientCredential })
    try {
      const first = new Client({ ...emulatorPg(emu), user: sp.roleName, entra: auth })
      const refused = await pgEntraFailure(first.connect())
      // Azure (and the emulator) refuse a token signed by an unknown key with 28000 "An error occurred while validating..."
      expect(refused).toMatchObject({ code: 'TOKEN_REFUSED', details: { sqlstate: '28000', retried: false } })
      const second = new Client({ ...emulatorPg(emu), user: sp.roleName, entra: auth })
      await second.connect()
      try {
        expect((await second.query('select 1 as one')).rows[0].one).toBe(1)
        expect(clientCredential.calls()).toBe(2)
      } finally {
        await second.end()
      }
    } finally {
      await auth.close()
    }
    const role = (await emu.counters()).pg.byRole[sp.roleName!]
    expect(role?.rejected).toBe(2)
    expect(role?.accepted).toBeGreaterThanOrEqual(2)
  })

  it('gets a really new token from @azure/identity for the retry, past its own cache', async () => {
    const emu = await useEmulator()
    // No role is mapped to this principal, so the server refuses its tokens. They live an hour: MSAL caches them and
    // would hand the refused one back; the retry must carry a token Entra issued anew. (A token for the wrong
    // audience no longer serves here: pg-entra refuses it itself, before the server sees it.)
    const sp = await emu.addPrincipal({ kind: 'servicePrincipal', name: uniqueName('retry-msal'), role: false })
    const pool = createPool({
      ...emulatorPg(emu),
      user: sp.name,
      entra: { tenantId: sp.tenantId, clientId: sp.appId, clientSecret: sp.secret, ...emulatorAuthority(emu) },
    })
    try {
      expect((await pgEntraFailure(pool.query('select 1'))).code).toBe('TOKEN_REFUSED')
    } finally {
      await pool.end()
    }
    const counters = await emu.counters()
    const tokens = counters.tokenRequests.byPrincipal[sp.name]
    expect(tokens?.requests).toBe(2)
    expect(new Set(tokens?.issued.map((issued) => issued.tokenId)).size).toBe(2)
    expect(counters.pg.byRole[sp.name]).toMatchObject({ rejected: 2, accepted: 0 })
  })

  it('reports TOKEN_REFUSED naming the role and the pgaadauth statement, which works when run', async () => {
    const emu = await useEmulator()
    const sp = await emu.addPrincipal({ kind: 'servicePrincipal', name: uniqueName('unmapped'), role: false })
    const role = sp.name
    const entra = { tenantId: sp.tenantId, clientId: sp.appId, clientSecret: sp.secret, ...emulatorAuthority(emu) }
    const auth = entraAuth(entra)
    const pool = createPool({ ...emulatorPg(emu), user: role, entra: auth })
    try {
      const error = await pgEntraFailure(pool.query('select 1'))
      expect(error.code).toBe('TOKEN_REFUSED')
      expect(error.message).toContain(`role "${role}"`)
      expect(error.details).toMatchObject({ role, sqlstate: '28P01', objectId: sp.objectId })
      const statement = /select \* from pgaadauth_create_principal_with_oid\([^;]+\);/.exec(error.hint ?? '')?.[0]
      expect(statement).toBe(
        `select * from pgaadauth_create_principal_with_oid('${role}', '${sp.objectId}', 'service', false, false);`,
      )
      const admin = new pg.Client({ ...emulatorPg(emu), user: emu.pg.adminUser, password: emu.pg.adminPassword })
      await admin.connect()
      try {
        await admin.query(statement!)
      } finally {
        await admin.end()
      }
      expect((await pool.query('select current_user as u')).rows[0].u).toBe(role)
    } finally {
      await pool.end()
      await auth.close()
    }
  })

  it('refuses to send a token without verified TLS unless explicitly allowed', async () => {
    const emu = await useEmulator()
    const sp = await emu.addPrincipal({ kind: 'servicePrincipal', name: uniqueName('tls') })
    const entra = { tenantId: sp.tenantId, clientId: sp.appId, clientSecret: sp.secret, ...emulatorAuthority(emu) }
    const base = { host: emu.pg.host, port: emu.pg.port, database: emu.pg.database, user: sp.roleName }
    for (const config of [
      { ...base, ssl: false },
      { ...base, ssl: { rejectUnauthorized: false } },
      { connectionString: `postgres://${sp.roleName}@${emu.pg.host}:${emu.pg.port}/${emu.pg.database}?sslmode=prefer` },
    ]) {
      let error: unknown
      try {
        createPool({ ...config, entra })
      } catch (e) {
        error = e
      }
      expect(isPgEntraError(error) && error.code).toBe('TLS_REQUIRED')
      expect(isPgEntraError(error) && error.hint).toContain('allowUnverifiedTls: true')
    }
    // Without the emulator's CA the certificate does not verify: the connect fails before any password is sent, and
    // pg-entra says so (TLS_REQUIRED, with Node's error as the cause and how to trust the CA as the hint).
    const unverified = createPool({ ...base, ssl: true, entra })
    try {
      const error = await failure(unverified.query('select 1'))
      expect(isPgEntraError(error) && error.code).toBe('TLS_REQUIRED')
      expect(isPgEntraError(error) && error.details.reason).toBe('untrusted-certificate')
      expect(isPgEntraError(error) && error.hint).toContain('sslrootcert')
      expect((error.cause as Error).message).toMatch(/certificate/i)
    } finally {
      await unverified.end()
    }
    // The named opt-out lets a plain connection through; the server itself then refuses it (28000), no token sent.
    const optedOut = createPool({ ...base, ssl: false, entra: { ...entra, allowUnverifiedTls: true } })
    try {
      const error = await failure(optedOut.query('select 1'))
      expect(error.code).toBe('28000')
    } finally {
      await optedOut.end()
    }
    expect((await emu.counters()).tokenRequests.byPrincipal[sp.name]?.requests ?? 0).toBe(0)
  })

  it('is plain pg with its password when no entra option is given', async () => {
    const emu = await useEmulator()
    const role = uniqueName('pw')
    await emu.createPasswordRole(role, 'correct horse battery')
    const pool = createPool({ ...emulatorPg(emu), user: role, password: 'correct horse battery' })
    const client = new Client({ ...emulatorPg(emu), user: role, password: async () => 'correct horse battery' })
    try {
      expect((await pool.query('select current_user as u')).rows[0].u).toBe(role)
      await client.connect()
      expect((await client.query('select current_user as u')).rows[0].u).toBe(role)
    } finally {
      await pool.end()
      await client.end()
    }
  })

  it('takes URL and key=value connection strings without losing the password function', async () => {
    const emu = await useEmulator()
    const sp = await emu.addPrincipal({ kind: 'servicePrincipal', name: uniqueName('cs') })
    const entra = { tenantId: sp.tenantId, clientId: sp.appId, clientSecret: sp.secret, ...emulatorAuthority(emu) }
    const url = `postgresql://${encodeURIComponent(sp.roleName!)}:placeholder@${emu.pg.host}:${emu.pg.port}/${emu.pg.database}?sslmode=verify-full&sslrootcert=${encodeURIComponent(emu.caPath)}&application_name=cs-test`
    const keyValue = `host=${emu.pg.host} port=${emu.pg.port} dbname=${emu.pg.database} user='${sp.roleName}' sslmode=verify-full sslrootcert='${emu.caPath}'`
    for (const connectionString of [url, keyValue]) {
      const pool = createPool({ connectionString, entra })
      try {
        const { rows } = await pool.query("select current_user as u, current_setting('application_name') as app")
        expect(rows[0].u).toBe(sp.roleName)
        if (connectionString === url) expect(rows[0].app).toBe('cs-test')
      } finally {
        await pool.end()
      }
    }
  })

  it('keeps a churning pool working across at least three token lifetimes with zero failed queries', {
    timeout: 120_000,
  }, async () => {
    const emu = await useEmulator()
    const name = uniqueName('churn')
    const lifetimeSeconds = 12
    const sp = await emu.addPrincipal({ kind: 'servicePrincipal', name })
    await emu.knobs.set({ principals: { [name]: { tokenLifetimeSeconds: lifetimeSeconds } } })
    const pool = createPool({
      ...emulatorPg(emu),
      user: sp.roleName,
      max: 4,
      maxLifetimeSeconds: 2,
      idleTimeoutMillis: 500,
      entra: { tenantId: sp.tenantId, clientId: sp.appId, clientSecret: sp.secret, ...emulatorAuthority(emu) },
    })
    const failures: string[] = []
    let queries = 0
    const until = Date.now() + (3 * lifetimeSeconds + 4) * 1000
    const worker = async () => {
      while (Date.now() < until) {
        try {
          await pool.query('select 1')
          queries++
        } catch (error) {
          failures.push(String(error))
        }
        await new Promise((resolve) => setTimeout(resolve, 40 + Math.random() * 40))
      }
    }
    try {
      await Promise.all(Array.from({ length: 4 }, worker))
    } finally {
      await pool.end()
    }
    expect(failures).toEqual([])
    expect(queries).toBeGreaterThan(100)
    const counters = await emu.counters()
    const issued = counters.tokenRequests.byPrincipal[name]?.issued ?? []
    const carried = new Set(counters.pg.byRole[sp.roleName!]?.tokenIds ?? [])
    expect(issued.length).toBeGreaterThanOrEqual(4)
    // connections opened after each rollover carried the new token: at least four distinct tokens reached the server
    expect(carried.size).toBeGreaterThanOrEqual(4)
    expect(counters.pg.byRole[sp.roleName!]?.rejected).toBe(0)
  })
})
