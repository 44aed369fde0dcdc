// One test per row of the README's fidelity table: what Azure Database for PostgreSQL and Entra ID do, checked
// against the emulator end to end (its Entra ID, its front, the real PostgreSQL behind it, pg and TLS).
import { createHash, randomUUID, X509Certificate } from 'node:crypto'
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Emulator, type Principal, startEmulator } from '../src/index.js'
import { decodeJwt, httpsCall } from './entra-fixtures.js'
import { errorFields, frontendMessage, startupPacket, WireClient } from './wire-client.js'

const RESOURCE = 'https://ossrdbms-aad.database.windows.net'
let em: Emulator
let sp: Principal
let alice: Principal

beforeAll(async () => {
  em = await startEmulator({
    principals: [
      { kind: 'group', name: 'fid-readers' },
      { kind: 'servicePrincipal', name: 'fid-sp', groups: ['fid-readers'] },
      { kind: 'managedIdentity', name: 'fid-mi', assignment: 'system' },
      { kind: 'user', upn: 'alice@contoso.example', groups: ['fid-readers'] },
      { kind: 'user', upn: 'mallory@contoso.example', role: false },
      { kind: 'user', upn: 'mfa-user@contoso.example', mfa: true, role: { mfa: true } },
      { kind: 'user', upn: 'no-mfa@contoso.example', role: { mfa: true } },
      { kind: 'servicePrincipal', name: 'fid-admin', role: { admin: true } },
    ],
    extensions: ['pgcrypto'],
  })
  sp = em.principal('fid-sp')
  alice = em.principal('alice@contoso.example')
})
afterAll(() => em?.stop())

function client(user: string, password: string, extra: Partial<pg.ClientConfig> = {}) {
  const c = new pg.Client({
    host: em.pg.host,
    port: em.pg.port,
    database: em.pg.database,
    user,
    password,
    ssl: { ca: em.ca },
    ...extra,
  })
  c.on('error', () => {})
  return c
}

async function currentUser(user: string, password: string): Promise<string> {
  const c = client(user, password)
  await c.connect()
  try {
    return (await c.query('select current_user')).rows[0].current_user
  } finally {
    await c.end()
  }
}

async function refusal(user: string, password: string, extra: Partial<pg.ClientConfig> = {}) {
  const c = client(user, password, extra)
  try {
    await c.connect()
  } catch (e) {
    const err = e as { code?: string; message: string }
    return { code: err.code, message: err.message }
  }
  await c.end()
  throw new Error(`connecting as ${user} was not refused`)
}

const appClaims = (p: Principal) => ({ oid: p.objectId, sub: p.objectId, appid: p.appId, appidacr: '1', idtyp: 'app' })

/** As the emulator's superuser, through the front. */
async function admin<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
  const c = client(em.pg.adminUser, em.pg.adminPassword)
  await c.connect()
  try {
    return (await c.query(sql, params)).rows
  } finally {
    await c.end()
  }
}

/** The error a statement fails with, or undefined when it succeeds. */
function queryError(
  c: pg.Client,
  sql: string,
): Promise<{ code?: string; message: string; detail?: string } | undefined> {
  return c.query(sql).then(
    () => undefined,
    (e: { code?: string; message: string; detail?: string }) => e,
  )
}

/** Runs `run` on a session of the Entra admin principal fid-admin in `database`. */
async function asEntraAdmin(database: string, run: (c: pg.Client) => Promise<void>): Promise<void> {
  const c = client('fid-admin', await em.token('fid-admin'), { database })
  await c.connect()
  try {
    await run(c)
  } finally {
    await c.end()
  }
}

async function lastReason(role: string): Promise<string | undefined> {
  return (await em.counters()).pg.byRole[role]?.reasons.at(-1)
}

describe('refusal texts', () => {
  it('expired token: "The access token has expired..." (28000)', async () => {
    const token = await em.mintToken(appClaims(sp), { lifetimeSeconds: -600 })
    expect(await refusal('fid-sp', token)).toEqual({
      code: '28000',
      message: 'The access token has expired. Please acquire a new token and retry.',
    })
  })

  it('audience with a trailing slash: "...does not have a valid audience claim..." (28000)', async () => {
    const token = await em.mintToken(appClaims(sp), { audience: `${RESOURCE}/` })
    expect(await refusal('fid-sp', token)).toEqual({
      code: '28000',
      message: `The access token does not have a valid audience claim. Please acquire a new token for the resource "${RESOURCE}".`,
    })
  })

  it('a signature from another key: "An error occurred while validating the access token..." (28000)', async () => {
    const token = await em.mintToken(appClaims(sp), { key: 'foreign' })
    expect(await refusal('fid-sp', token)).toEqual({
      code: '28000',
      message: 'An error occurred while validating the access token. Please acquire a new token and retry',
    })
  })

  it('a token with a trailing space, newline, tab or padding: "The access token has invalid format"', async () => {
    const token = await em.token('fid-sp')
    expect(await currentUser('fid-sp', token)).toBe('fid-sp')
    for (const tail of [' ', '\n', '\t', '==']) {
      expect(await refusal('fid-sp', token + tail)).toEqual({
        code: '28000',
        message: 'The access token has invalid format',
      })
    }
    expect(await lastReason('fid-sp')).toMatch(/not base64url|not a compact JWS/)
  })

  it('a token without an oid claim is refused (28000), the reason in the events', async () => {
    const { oid: _oid, ...noOid } = appClaims(sp)
    const token = await em.mintToken(noOid)
    const error = await refusal('fid-sp', token)
    expect(error.code).toBe('28000')
    expect(error.message).toMatch(/oid claim/)
    expect(await lastReason('fid-sp')).toMatch(/\(oid\)/)
  })

  it('an app token for a user role: "...is neither an AAD_AUTH_TOKENTYPE_APP_USER or ... APP_OBO token" (28000)', async () => {
    const token = await em.mintToken({ ...appClaims(sp), oid: alice.objectId })
    expect(await refusal(alice.name, token)).toEqual({
      code: '28000',
      message: `Azure AD user token for role[${alice.name}] is neither an AAD_AUTH_TOKENTYPE_APP_USER or an AAD_AUTH_TOKENTYPE_APP_OBO token.`,
    })
  })

  it('a user token for a service principal role: "Service Principals cannot generate ... APP_USER tokens" (28000)', async () => {
    const token = await em.token('alice@contoso.example')
    expect(await refusal('fid-sp', token)).toEqual({
      code: '28000',
      message: 'Service Principals cannot generate AAD_AUTH_TOKENTYPE_APP_USER tokens for role[fid-sp]',
    })
  })

  it('no TLS: Flexible Server\'s "no pg_hba.conf entry for host ..., no encryption" (28000)', async () => {
    expect(await refusal('fid-sp', await em.token('fid-sp'), { ssl: false })).toEqual({
      code: '28000',
      message: 'no pg_hba.conf entry for host "127.0.0.1", user "fid-sp", database "postgres", no encryption',
    })
  })
})

describe('strictness', () => {
  it('a password message without its NUL terminator is a protocol violation (08P01)', async () => {
    const wire = await WireClient.openTls(em.pg.port, em.ca)
    try {
      wire.send(startupPacket({ user: 'fid-sp', database: 'postgres' }))
      expect((await wire.message())?.type).toBe('R')
      wire.send(frontendMessage('p', Buffer.from(await em.token('fid-sp'))))
      const answer = await wire.message()
      expect(answer?.type).toBe('E')
      expect(errorFields(answer!.body)).toEqual({ code: '08P01', message: 'invalid password packet size' })
    } finally {
      wire.close()
    }
  })

  it('TLS sessions are never resumed: every connection negotiates in full, as PostgreSQL makes it', async () => {
    const first = await WireClient.openTls(em.pg.port, em.ca)
    let session: Buffer | undefined
    try {
      first.send(startupPacket({ user: 'fid-sp', database: 'postgres' }))
      expect((await first.message())?.type).toBe('R') // sent after the handshake's tickets, so they have arrived
      session = first.session
    } finally {
      first.close()
    }
    expect(session).toBeInstanceOf(Buffer) // Node's TLS keeps a session to offer; the front must not take it
    const second = await WireClient.openTls(em.pg.port, em.ca, session)
    try {
      expect(second.resumed).toBe(false)
    } finally {
      second.close()
    }
  })

  it("the server's certificate is RSA, from an issuing CA the server sends along: the client trusts the root alone", async () => {
    const wire = await WireClient.openTls(em.pg.port, em.ca) // rejectUnauthorized: only the root is trusted
    try {
      const leaf = wire.peerChain
      expect({ bits: leaf.bits, rsa: typeof leaf.modulus === 'string', curve: leaf.asn1Curve }).toEqual({
        bits: 2048,
        rsa: true,
        curve: undefined,
      })
      const issuing = leaf.issuerCertificate
      expect(issuing.fingerprint256).not.toBe(leaf.fingerprint256)
      expect(issuing.subject.CN).toMatch(/TLS Issuing CA/)
      const root = new X509Certificate(em.ca)
      expect(issuing.issuerCertificate.fingerprint256).toBe(root.fingerprint256)
      expect(issuing.fingerprint256).not.toBe(root.fingerprint256)
    } finally {
      wire.close()
    }
  })

  it("users are matched by oid: a token naming the role in upn with another user's oid is refused", async () => {
    const mallory = em.principal('mallory@contoso.example')
    const token = await em.mintToken({
      oid: mallory.objectId,
      sub: mallory.objectId,
      idtyp: 'user',
      scp: 'user_impersonation',
      upn: alice.name,
      unique_name: alice.name,
      preferred_username: alice.name,
    })
    expect(await refusal(alice.name, token)).toEqual({
      code: '28P01',
      message: `password authentication failed for user "${alice.name}"`,
    })
    expect(await currentUser(alice.name, await em.token(alice.name))).toBe(alice.name)
  })

  it('isMfa: a role created with isMfa = true refuses a user token without mfa in amr, and takes one with it', async () => {
    const refused = await refusal('no-mfa@contoso.example', await em.token('no-mfa@contoso.example'))
    expect(refused.code).toBe('28000')
    expect(await lastReason('no-mfa@contoso.example')).toMatch(/requires MFA/)
    const token = await em.token('mfa-user@contoso.example')
    expect(decodeJwt(token).claims.amr).toContain('mfa')
    expect(await currentUser('mfa-user@contoso.example', token)).toBe('mfa-user@contoso.example')
  })

  it('both issuer forms Entra issues for this resource are accepted (v1 sts.windows.net and v2)', async () => {
    expect(em.issuers.v1).toBe(`https://sts.windows.net/${em.tenantId}/`)
    expect(await currentUser('fid-sp', await em.mintToken(appClaims(sp), { issuer: em.issuers.v1 }))).toBe('fid-sp')
    expect(await currentUser('fid-sp', await em.mintToken(appClaims(sp), { issuer: em.issuers.v2 }))).toBe('fid-sp')
  })
})

describe('roles and mappings', () => {
  it('DROP ROLE then CREATE ROLE of the same name does not inherit the mapping; a rename keeps it', async () => {
    const p = await em.addPrincipal({ kind: 'servicePrincipal', name: `fid-follow-${randomUUID().slice(0, 6)}` })
    const token = await em.token(p.name)
    expect(await currentUser(p.name, token)).toBe(p.name)
    const renamed = `${p.name}-renamed`
    await admin(`alter role "${p.name}" rename to "${renamed}"`)
    expect(await currentUser(renamed, token)).toBe(renamed)
    await admin(`drop role "${renamed}"`)
    await admin(`create role "${renamed}" login`)
    expect((await refusal(renamed, token)).code).toBe('28P01')
    expect(await lastReason(renamed)).toMatch(/no Entra mapping/)
  })

  it('the functions live in pg_catalog and are callable unqualified too', async () => {
    const oid = randomUUID()
    const [row] = await admin<{ r: string }>(
      `select pg_catalog.pgaadauth_create_principal_with_oid('fid-qualified', $1, 'service', false, false) as r`,
      [oid],
    )
    expect(row?.r).toBe('Created role for "fid-qualified"')
    const [found] = await admin<{ schema: string }>(
      `select n.nspname as schema from pg_proc p join pg_namespace n on n.oid = p.pronamespace
       where p.proname = 'pgaadauth_create_principal'`,
    )
    expect(found?.schema).toBe('pg_catalog')
    const listed = await admin<{ rolname: string }>(`select rolname from pgaadauth_list_principals(false)`)
    expect(listed.map((r) => r.rolname)).toContain('fid-qualified')
  })

  it('an Entra admin may rename and drop Entra roles', async () => {
    const target = await em.addPrincipal({ kind: 'servicePrincipal', name: `fid-victim-${randomUUID().slice(0, 6)}` })
    const c = client('fid-admin', await em.token('fid-admin'))
    await c.connect()
    try {
      await c.query(`alter role "${target.name}" rename to "${target.name}-x"`)
      await c.query(`drop role "${target.name}-x"`)
    } finally {
      await c.end()
    }
    expect(await admin(`select 1 from pg_roles where rolname like $1`, [`${target.name}%`])).toEqual([])
  })

  it('pgaadauth_list_principals returns the tenantId', async () => {
    const rows = await admin<Record<string, unknown>>(
      `select * from pgaadauth_list_principals(false) where rolname = 'fid-sp'`,
    )
    expect(rows).toEqual([
      {
        rolname: 'fid-sp',
        principalType: 'service',
        objectId: sp.objectId,
        tenantId: em.tenantId,
        isMfa: 0,
        isAdmin: 0,
      },
    ])
  })

  it('an unknown name: "Could not validate AAD user <name> because its name is not found in the tenant."', async () => {
    const error = await admin(`select pgaadauth_create_principal('ghost@contoso.example', false, false)`).catch(
      (e: Error) => e,
    )
    expect((error as Error).message).toBe(
      'Could not validate AAD user ghost@contoso.example because its name is not found in the tenant.',
    )
  })

  it('SECURITY LABEL FOR "pgaadauth" ON ROLE maps a plain role, and IS NULL unmaps it', async () => {
    const p = await em.addPrincipal({
      kind: 'servicePrincipal',
      name: `fid-label-${randomUUID().slice(0, 6)}`,
      role: false,
    })
    const role = `${p.name}-role`
    await admin(`create role "${role}" login`)
    const c = client(em.pg.adminUser, em.pg.adminPassword)
    await c.connect()
    try {
      const result = await c.query(
        `SECURITY LABEL FOR "pgaadauth" ON ROLE "${role}" IS 'aadauth,oid=${p.objectId},type=service'`,
      )
      expect(result.command).toBe('DO')
    } finally {
      await c.end()
    }
    expect(await currentUser(role, await em.token(p.name))).toBe(role)
    const [listed] = await admin(`select * from pgaadauth_list_principals(false) where rolname = $1`, [role])
    expect(listed).toMatchObject({ principalType: 'service', objectId: p.objectId })
    const again = client(em.pg.adminUser, em.pg.adminPassword)
    await again.connect()
    await again.query(`security label for pgaadauth on role "${role}" is null`)
    await again.end()
    expect((await refusal(role, await em.token(p.name))).code).toBe('28P01')
  })

  it('an Entra admin cannot label a superuser, and no token logs in as one whatever its mapping', async () => {
    const entraAdmin = client('fid-admin', await em.token('fid-admin'))
    await entraAdmin.connect()
    try {
      const error = await queryError(
        entraAdmin,
        `SECURITY LABEL FOR "pgaadauth" ON ROLE "${em.pg.adminUser}" IS 'aadauth,oid=${sp.objectId},type=service'`,
      )
      expect(error).toMatchObject({
        code: '42501',
        message: 'permission denied',
        detail: 'The current user must have the SUPERUSER attribute.',
      })
    } finally {
      await entraAdmin.end()
    }
    // Nor another Entra admin's role, mapped or unmapped: PostgreSQL's ADMIN-option rule for SECURITY LABEL ON ROLE.
    const other = client('fid-admin', await em.token('fid-admin'))
    await other.connect()
    try {
      await admin(
        `select * from pgaadauth_create_principal_with_oid('fid-admin-2', '${randomUUID()}', 'service', true, false)`,
      )
      for (const label of [`'aadauth,oid=${sp.objectId},type=service,admin'`, 'NULL']) {
        const refused = await queryError(other, `SECURITY LABEL FOR "pgaadauth" ON ROLE "fid-admin-2" IS ${label}`)
        expect(refused, label).toMatchObject({
          code: '42501',
          message: 'permission denied',
          detail: 'The current user must have the ADMIN option on role "fid-admin-2".',
        })
      }
      // a role it created itself, it may label
      await other.query('create role "fid-own-role" login')
      await other.query(
        `SECURITY LABEL FOR "pgaadauth" ON ROLE "fid-own-role" IS 'aadauth,oid=${sp.objectId},type=service'`,
      )
      expect(await currentUser('fid-own-role', await em.token('fid-sp'))).toBe('fid-own-role')
    } finally {
      await other.end()
    }
    // A mapping row put there by the superuser itself: the front still refuses a token for a superuser role.
    await admin(
      `security label for pgaadauth on role "${em.pg.adminUser}" is 'aadauth,oid=${sp.objectId},type=service'`,
    )
    try {
      expect((await refusal(em.pg.adminUser, await em.token('fid-sp'))).code).toBe('28P01')
    } finally {
      await admin(`security label for pgaadauth on role "${em.pg.adminUser}" is null`)
    }
  })

  it('CREATE EXTENSION only for what azure.extensions allow-lists, in every database, whatever a session SETs', async () => {
    const notAllowed = {
      code: '0A000',
      message: 'extension "uuid-ossp" is not allow-listed for "azure_pg_admin" users in Azure Database for PostgreSQL',
      hint: 'to see the full allow list of extensions, please run: "show azure.extensions;"',
    }
    const database = `fid_ext_${randomUUID().slice(0, 8)}`
    await asEntraAdmin(em.pg.database, async (c) => {
      expect((await c.query('show azure.extensions')).rows[0]['azure.extensions']).toBe('pgcrypto')
      expect(await queryError(c, 'create extension "uuid-ossp"')).toMatchObject(notAllowed)
      await c.query("set azure.extensions = 'pgcrypto,uuid-ossp'")
      expect(await queryError(c, 'create extension if not exists "uuid-ossp"')).toMatchObject(notAllowed)
      await c.query(`create database ${database}`)
      await c.query(`create database ${database}_t0 template template0`)
    })
    await asEntraAdmin(database, async (c) => {
      expect(await queryError(c, 'create extension "uuid-ossp"')).toMatchObject(notAllowed)
      await c.query('create extension pgcrypto')
      expect((await c.query('select length(gen_random_bytes(4)) as n')).rows[0].n).toBe(4)
    })
    // made from template0, which has no check: the front installs it before the first session there
    await asEntraAdmin(`${database}_t0`, async (c) => {
      expect(await queryError(c, 'create extension "uuid-ossp"')).toMatchObject(notAllowed)
    })
    await admin(`drop database ${database} with (force)`)
    await admin(`drop database ${database}_t0 with (force)`)
  })

  it('CREATE EXTENSION ... CASCADE is refused when an extension it would add is not allow-listed', async () => {
    // two SQL-only trusted extensions, fid_top requiring fid_base, found through PostgreSQL 18's extension_control_path
    // (the bundled contrib pair earthdistance/cube is not trusted, so only a superuser could create it at all)
    const dir = await mkdtemp(join(tmpdir(), 'fid-ext-'))
    const control = (requires: string) =>
      `default_version = '1.0'\ntrusted = true\nrelocatable = true\n${requires ? `requires = '${requires}'\n` : ''}`
    // PostgreSQL looks in <path>/extension, as it does under $system; the server runs as another OS user
    const where = join(dir, 'extension')
    await mkdir(where)
    await chmod(dir, 0o755)
    await writeFile(join(where, 'fid_base.control'), control(''))
    await writeFile(
      join(where, 'fid_base--1.0.sql'),
      "create function fid_base_one() returns int language sql as 'select 1';",
    )
    await writeFile(join(where, 'fid_top.control'), control('fid_base'))
    await writeFile(
      join(where, 'fid_top--1.0.sql'),
      "create function fid_top_two() returns int language sql as 'select 2';",
    )
    const setAllowList = async (value: string) => {
      await admin(`alter system set azure.extensions = '${value}'`)
      await admin('select pg_reload_conf()')
    }
    const database = `fid_cascade_${randomUUID().slice(0, 8)}`
    await asEntraAdmin(em.pg.database, async (c) => {
      await c.query(`create database ${database}`)
    })
    // set on the database, read at connection start: a reload reaches other backends only later
    await admin(`alter database ${database} set extension_control_path = '$system:${dir}'`)
    const c = client('fid-admin', await em.token('fid-admin'), { database })
    await c.connect()
    const extensions = async () => (await c.query('select extname from pg_extension order by extname')).rows
    try {
      await setAllowList('pgcrypto,fid_top')
      expect(await queryError(c, 'create extension fid_top cascade')).toMatchObject({
        code: '0A000',
        message: 'extension "fid_base" is not allow-listed for "azure_pg_admin" users in Azure Database for PostgreSQL',
      })
      expect(await extensions()).toEqual([{ extname: 'plpgsql' }])
      await setAllowList('pgcrypto,fid_top,fid_base')
      await c.query('create extension fid_top cascade')
      expect(await extensions()).toEqual([{ extname: 'fid_base' }, { extname: 'fid_top' }, { extname: 'plpgsql' }])
    } finally {
      await c.end()
      await setAllowList('pgcrypto')
      await admin(`drop database ${database} with (force)`)
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('a group member logs in as the group role with its own token', async () => {
    expect(await currentUser('fid-readers', await em.token('fid-sp'))).toBe('fid-readers')
    expect(await currentUser('fid-readers', await em.token('alice@contoso.example'))).toBe('fid-readers')
  })
})

describe('tokens', () => {
  it('per-kind lifetimes: managed identity 24 h with refresh_in at half, service principal 3599 s', async () => {
    const mi = await managedIdentityGet(`${em.managedIdentity.endpoint}?api-version=2019-08-01&resource=${RESOURCE}`, {
      'X-IDENTITY-HEADER': em.managedIdentity.header,
    })
    expect(mi.status).toBe(200)
    const claims = decodeJwt(mi.json.access_token).claims
    expect(claims.exp - claims.iat).toBe(86_399)
    expect(mi.json.refresh_in).toBe('43199')
    const spToken = decodeJwt(await em.token('fid-sp')).claims
    expect(spToken.exp - spToken.iat).toBe(3599)
  })

  it('userTokenLength makes user tokens as long as real ones with many groups, and they still log in', async () => {
    await em.knobs.set({ principals: { 'alice@contoso.example': { userTokenLength: 7000 } } })
    try {
      const token = await em.token('alice@contoso.example')
      expect(token.length).toBeGreaterThanOrEqual(7000)
      expect(token.length).toBeLessThan(7200)
      expect(await currentUser(alice.name, token)).toBe(alice.name)
    } finally {
      await em.knobs.reset({ principal: 'alice@contoso.example' })
    }
  })

  it('the v1 token endpoint takes resource= and answers as v1 does', async () => {
    const res = await httpsCall(em, 'POST', `/${em.tenantId}/oauth2/token`, {
      client_id: sp.appId!,
      client_secret: sp.secret!,
      grant_type: 'client_credentials',
      resource: RESOURCE,
    })
    expect(res.status).toBe(200)
    const body = res.json()
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: '3599', resource: RESOURCE })
    expect(Number(body.expires_on)).toBe(decodeJwt(body.access_token).claims.exp)
    expect(await currentUser('fid-sp', body.access_token)).toBe('fid-sp')
  })

  it('client credentials on v2: one resource, as <resource>/.default; grant_type required', async () => {
    const ask = (form: Record<string, string>) =>
      httpsCall(em, 'POST', `/${em.tenantId}/oauth2/v2.0/token`, {
        client_id: sp.appId!,
        client_secret: sp.secret!,
        grant_type: 'client_credentials',
        ...form,
      })
    const refused = async (form: Record<string, string>) => {
      const res = await ask(form)
      const body = res.json()
      return { status: res.status, error: body.error, code: body.error_codes?.[0], description: body.error_description }
    }
    expect(await refused({ scope: RESOURCE })).toMatchObject({
      status: 400,
      error: 'invalid_scope',
      code: 1002012,
      description: expect.stringMatching(
        /^AADSTS1002012: The provided value for scope https:\/\/ossrdbms-aad\.database\.windows\.net is not valid\. Client credential flows must have a scope value with \/\.default suffixed/,
      ),
    })
    expect(await refused({ scope: `${RESOURCE}/.default https://management.azure.com/.default` })).toMatchObject({
      status: 400,
      code: 28000,
      description: expect.stringMatching(/contains more than one resource/),
    })
    expect(await refused({ scope: 'openid' })).toMatchObject({ status: 400, code: 900144 })
    expect(await refused({ grant_type: '', scope: `${RESOURCE}/.default` })).toMatchObject({
      status: 400,
      error: 'invalid_request',
      code: 900144,
      description: expect.stringMatching(/must contain the following parameter: 'grant_type'/),
    })
    // MSAL's OpenID scopes beside the resource are ignored, as by Entra
    const ok = await ask({ scope: `${RESOURCE}/.default openid profile offline_access` })
    expect(ok.status).toBe(200)
    expect(decodeJwt(ok.json().access_token).claims.aud).toBe(RESOURCE)
  })

  it('the signing keys as Entra publishes them: kid = x5t, the SHA-1 thumbprint of the certificate in x5c', async () => {
    const jwks = (await httpsCall(em, 'GET', `/${em.tenantId}/discovery/v2.0/keys`)).json()
    // As Entra's: kid = x5t = the certificate's SHA-1 thumbprint, the certificate in x5c, the v2 issuer template
    const [key] = jwks.keys
    expect(key).toMatchObject({ kty: 'RSA', use: 'sig', e: 'AQAB', issuer: `${em.authorityHost}/{tenantid}/v2.0` })
    expect(key.d).toBeUndefined()
    const der = Buffer.from(key.x5c[0], 'base64')
    expect(key.x5t).toBe(createHash('sha1').update(der).digest('base64url'))
    expect(key.x5t).toHaveLength(27)
    expect(key.kid).toBe(key.x5t)
    const certificate = new X509Certificate(der)
    expect(certificate.publicKey.export({ format: 'jwk' })).toMatchObject({ n: key.n, e: key.e })
    const { header } = decodeJwt(await em.token('fid-sp'))
    expect(header.kid).toBe(key.kid)
    const v1Keys = (await httpsCall(em, 'GET', `/${em.tenantId}/discovery/keys`)).json()
    expect(v1Keys.keys[0].issuer).toBeUndefined()
    expect(v1Keys.keys[0].kid).toBe(key.kid)
  })

  it('GUIDs are read in either case: tenant, client id, managed identity client id', async () => {
    const res = await httpsCall(em, 'POST', `/${em.tenantId.toUpperCase()}/oauth2/v2.0/token`, {
      client_id: sp.appId!.toUpperCase(),
      client_secret: sp.secret!,
      grant_type: 'client_credentials',
      scope: `${RESOURCE}/.default`,
    })
    expect(res.status).toBe(200)
    const claims = decodeJwt(res.json().access_token).claims
    expect(claims).toMatchObject({ tid: em.tenantId, appid: sp.appId, oid: sp.objectId })
    expect(await currentUser('fid-sp', res.json().access_token)).toBe('fid-sp')
    const mi = em.principal('fid-mi')
    const byClientId = await managedIdentityGet(
      `${em.managedIdentity.endpoint}?api-version=2019-08-01&resource=${RESOURCE}&client_id=${mi.clientId!.toUpperCase()}`,
      { 'X-IDENTITY-HEADER': em.managedIdentity.header },
    )
    expect(byClientId.status).toBe(200)
    expect(decodeJwt(byClientId.json.access_token).claims.oid).toBe(mi.objectId)
  })

  it('a managed-identity token asked for "<resource>/" carries that audience, and the front refuses it', async () => {
    const mi = await managedIdentityGet(
      `${em.managedIdentity.endpoint}?api-version=2019-08-01&resource=${encodeURIComponent(`${RESOURCE}/`)}`,
      { 'X-IDENTITY-HEADER': em.managedIdentity.header },
    )
    expect(decodeJwt(mi.json.access_token).claims.aud).toBe(`${RESOURCE}/`)
    expect((await refusal('fid-mi', mi.json.access_token)).message).toMatch(/valid audience claim/)
  })

  it('managed identity: App Service needs X-IDENTITY-HEADER; the IMDS path is only on the IMDS host', async () => {
    const query = `api-version=2018-02-01&resource=${RESOURCE}`
    const appServicePort = new URL(em.managedIdentity.endpoint)
    const withoutHeader = await managedIdentityGet(
      `${em.managedIdentity.endpoint}?api-version=2019-08-01&resource=${RESOURCE}`,
      {},
    )
    expect(withoutHeader.status).toBe(401)
    const imdsOnAppServicePort = await managedIdentityGet(
      `${appServicePort.origin}/metadata/identity/oauth2/token?${query}`,
      { Metadata: 'true' },
    )
    expect(imdsOnAppServicePort.status).toBe(404)
    expect(new URL(em.managedIdentity.imdsHost).port).not.toBe(appServicePort.port)
    const imds = await managedIdentityGet(`${em.managedIdentity.imdsHost}/metadata/identity/oauth2/token?${query}`, {
      Metadata: 'true',
    })
    expect(imds.status).toBe(200)
  })
})

function managedIdentityGet(
  url: string,
  headers: Record<string, string>,
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies of several shapes
): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : undefined })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}
