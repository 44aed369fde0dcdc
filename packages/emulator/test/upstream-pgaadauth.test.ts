// The upstream: embedded PostgreSQL as set up for the front, the pgaadauth functions behaving like Azure's, and the
// handle's lookups. Also an external server (the same cluster, given by socket) gets pgaadauth installed again.
import { randomUUID } from 'node:crypto'
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startUpstream, type UpstreamHandle } from '../src/upstream/index.js'

let upstream: UpstreamHandle
const q = (sql: string, params?: unknown[]) => upstream.adminQuery(sql, params)
const errorOf = async (p: Promise<unknown>) => {
  try {
    await p
  } catch (e) {
    return e as { code?: string; message: string }
  }
  throw new Error('expected an error')
}

beforeAll(async () => {
  upstream = await startUpstream({ kind: 'embedded' })
})
afterAll(() => upstream?.stop())

describe('embedded server', () => {
  it('trusts the private unix socket and nothing else', async () => {
    expect(statSync(upstream.socketDir).mode & 0o777).toBe(0o700)
    const { rows } = await q(`select type, auth_method from pg_hba_file_rules order by rule_number`)
    expect(rows).toEqual([
      { type: 'local', auth_method: 'trust' },
      { type: 'host', auth_method: 'scram-sha-256' },
      { type: 'host', auth_method: 'scram-sha-256' },
    ])
    expect((await q(`select current_setting('listen_addresses') as l`)).rows[0].l).toBe('127.0.0.1')
  })

  it('asks for a password on TCP', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: upstream.port, user: 'postgres', password: 'wrong' })
    await expect(client.connect()).rejects.toMatchObject({ code: '28P01' })
  })
})

describe('pgaadauth functions', () => {
  it('pgaadauth_create_principal_with_oid creates a login role and its mapping', async () => {
    const oid = randomUUID()
    const { rows } = await q(`select pgaadauth_create_principal_with_oid('svc-a', $1, 'service', false, false) as r`, [
      oid,
    ])
    expect(rows[0].r).toBe('Created role for "svc-a"')
    expect(await upstream.lookupMapping('svc-a')).toEqual({ oid, type: 'service', isMfa: false })
    const role = (await q(`select rolcanlogin, rolcreaterole from pg_roles where rolname = 'svc-a'`)).rows[0]
    expect(role).toEqual({ rolcanlogin: true, rolcreaterole: false })
  })

  it('an admin principal is a member of azure_pg_admin with CREATEROLE and CREATEDB', async () => {
    await q(`select pgaadauth_create_principal_with_oid('admin@contoso.example', $1, 'user', true, false)`, [
      randomUUID(),
    ])
    const { rows } = await q(
      `select r.rolcreaterole, r.rolcreatedb, pg_has_role(r.oid, 'azure_pg_admin', 'member') as member
       from pg_roles r where r.rolname = 'admin@contoso.example'`,
    )
    expect(rows[0]).toEqual({ rolcreaterole: true, rolcreatedb: true, member: true })
  })

  it('refuses a bad principal type', async () => {
    const err = await errorOf(q(`select pgaadauth_create_principal_with_oid('x', 'y', 'robot', false, false)`))
    expect(err).toMatchObject({ code: '22023', message: 'Principal type "robot" is invalid' })
    expect(await upstream.lookupMapping('x')).toBeUndefined()
  })

  it('refuses a role that already exists', async () => {
    await q(`create role existing_role`)
    const err = await errorOf(
      q(`select pgaadauth_create_principal_with_oid('existing_role', $1, 'user', false, false)`, [randomUUID()]),
    )
    expect(err).toMatchObject({ code: '42710', message: 'role "existing_role" already exists' })
  })

  it('pgaadauth_create_principal resolves names in the directory, case-insensitively for lookup', async () => {
    const user = { name: 'Carol@Contoso.example', oid: randomUUID(), kind: 'user' }
    const mi = { name: 'orders-api', oid: randomUUID(), kind: 'managedIdentity' }
    const group = { name: 'analysts', oid: randomUUID(), kind: 'group' }
    await upstream.syncDirectory([user, mi, group])
    await q(`select pgaadauth_create_principal('carol@contoso.example', false, false)`)
    await q(`select pgaadauth_create_principal('orders-api', false, true)`)
    await q(`select pgaadauth_create_principal('analysts', false, false)`)
    expect(await upstream.lookupMapping('carol@contoso.example')).toEqual({ oid: user.oid, type: 'user', isMfa: false })
    expect(await upstream.lookupMapping('orders-api')).toEqual({ oid: mi.oid, type: 'service', isMfa: true })
    expect(await upstream.lookupMapping('analysts')).toEqual({ oid: group.oid, type: 'group', isMfa: false })
  })

  it('syncDirectory upserts by object id', async () => {
    const oid = randomUUID()
    await upstream.syncDirectory([{ name: 'renamed-before', oid, kind: 'servicePrincipal' }])
    await upstream.syncDirectory([{ name: 'renamed-after', oid, kind: 'servicePrincipal' }])
    const { rows } = await q(`select name, kind from pgaadauth.directory where oid = $1`, [oid])
    expect(rows).toEqual([{ name: 'renamed-after', kind: 'service' }])
    await expect(upstream.syncDirectory([{ name: 'x', oid: randomUUID(), kind: 'robot' }])).rejects.toThrow(/robot/)
  })

  it('pgaadauth_create_principal refuses an unknown name', async () => {
    const err = await errorOf(q(`select pgaadauth_create_principal('nobody@contoso.example', false, false)`))
    expect(err.code).toBe('42704')
    expect(err.message).toBe(
      'Could not validate AAD user nobody@contoso.example because its name is not found in the tenant.',
    )
    expect((await q(`select 1 from pg_roles where rolname = 'nobody@contoso.example'`)).rows).toEqual([])
  })

  it('pgaadauth_list_principals lists mapped roles, or only admins', async () => {
    const all = (await q(`select * from pgaadauth_list_principals(false)`)).rows
    expect(all.map((r) => r.rolname)).toEqual(
      expect.arrayContaining(['svc-a', 'admin@contoso.example', 'orders-api', 'analysts']),
    )
    expect(all.find((r) => r.rolname === 'orders-api')).toMatchObject({
      principalType: 'service',
      isMfa: 1,
      isAdmin: 0,
    })
    const admins = (await q(`select rolname from pgaadauth_list_principals(true)`)).rows
    expect(admins).toEqual([{ rolname: 'admin@contoso.example' }])
  })

  it('a dropped role loses its mapping; the name can be mapped again', async () => {
    const oid = randomUUID()
    await q(`select pgaadauth_create_principal_with_oid('short-lived', $1, 'service', false, false)`, [randomUUID()])
    await q(`drop role "short-lived"`)
    expect(await upstream.lookupMapping('short-lived')).toBeUndefined()
    await q(`select pgaadauth_create_principal_with_oid('short-lived', $1, 'group', false, false)`, [oid])
    expect(await upstream.lookupMapping('short-lived')).toEqual({ oid, type: 'group', isMfa: false })
  })

  it('an azure_pg_admin member may call the functions; an ordinary role may not', async () => {
    await q(`create role pwadmin login password 'adm1n' in role azure_pg_admin`)
    await q(`create role pwplain login password 'pl4in'`)
    const as = async (user: string, password: string, sql: string) => {
      const c = new pg.Client({ host: '127.0.0.1', port: upstream.port, user, password, database: 'postgres' })
      await c.connect()
      try {
        return await c.query(sql)
      } finally {
        await c.end()
      }
    }
    const oid = randomUUID()
    await as(
      'pwadmin',
      'adm1n',
      `select pgaadauth_create_principal_with_oid('by-admin', '${oid}', 'service', false, false)`,
    )
    expect(await upstream.lookupMapping('by-admin')).toEqual({ oid, type: 'service', isMfa: false })
    const err = await errorOf(
      as('pwplain', 'pl4in', `select pgaadauth_create_principal_with_oid('by-plain', 'z', 'service', false, false)`),
    )
    expect(err.code).toBe('42501')
  })
})

describe('handle lookups', () => {
  it('passwordVerifier returns the SCRAM verifier, nothing for unknown, passwordless or expired roles', async () => {
    await q(`create role with_pw login password 'secret-1'`)
    await q(`create role no_pw login`)
    await q(`create role expired_pw login password 'secret-2' valid until '2000-01-01'`)
    expect(await upstream.passwordVerifier('with_pw')).toMatch(/^SCRAM-SHA-256\$4096:/)
    expect(await upstream.passwordVerifier('no_pw')).toBeUndefined()
    expect(await upstream.passwordVerifier('expired_pw')).toBeUndefined()
    expect(await upstream.passwordVerifier('unknown_role')).toBeUndefined()
  })
})

describe('data directory', () => {
  it('reuses a given data directory across restarts and leaves it in place', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'upstream-data-'))
    chmodSync(dir, 0o755)
    const dataDir = join(dir, 'data')
    try {
      const first = await startUpstream({ kind: 'embedded', dataDir })
      const oid = randomUUID()
      await first.adminQuery(`select pgaadauth_create_principal_with_oid('kept', $1, 'service', false, false)`, [oid])
      await first.stop()
      const second = await startUpstream({ kind: 'embedded', dataDir })
      expect(await second.lookupMapping('kept')).toEqual({ oid, type: 'service', isMfa: false })
      await second.stop()
      expect(statSync(join(dataDir, 'PG_VERSION')).isFile()).toBe(true)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('external upstream', () => {
  it('installs pgaadauth (idempotently) into a server given by socket, and stop() leaves that server running', async () => {
    const external = await startUpstream({
      kind: 'external',
      socketDir: upstream.socketDir,
      port: upstream.port,
      adminUser: 'postgres',
    })
    expect(external.database).toBe('postgres')
    expect(await external.lookupMapping('svc-a')).toMatchObject({ type: 'service' })
    await external.stop()
    expect((await q('select 1 as one')).rows[0].one).toBe(1)
  })

  it('two installs at once into one server both succeed', async () => {
    const opts = {
      kind: 'external',
      socketDir: upstream.socketDir,
      port: upstream.port,
      adminUser: 'postgres',
    } as const
    const handles = await Promise.all([startUpstream(opts), startUpstream(opts), startUpstream(opts)])
    await Promise.all(handles.map((h) => h.stop()))
  })

  it('fails with a clear error when the external server is not there', async () => {
    const attempt = startUpstream({ kind: 'external', socketDir: '/nonexistent', port: 1, adminUser: 'postgres' })
    await expect(attempt).rejects.toThrow(/could not install the pgaadauth functions/)
  })
})
