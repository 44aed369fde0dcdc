// Authentication through the front: tokens for mapped roles (users by UPN, service principals by oid, groups by
// membership), passwords for unmapped roles, and the 28000 / 28P01 refusals with reasons only in events.
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startPgFront } from '../src/pg-front/index.js'
import type { FrontEvent } from '../src/pg-front/types.js'
import { connectError, type FrontFixture, startFrontFixture } from './front-fixtures.js'

const run = promisify(execFile)
let f: FrontFixture

const alice = { upn: 'alice@contoso.example', oid: randomUUID() }
const app = { name: 'billing-app', oid: randomUUID(), appid: randomUUID() }
const other = { name: 'other-app', oid: randomUUID(), appid: randomUUID() }
const group = { name: 'db-readers', oid: randomUUID() }

const userClaims = (u: { upn: string; oid: string }, extra: Record<string, unknown> = {}) => ({
  oid: u.oid,
  sub: u.oid,
  upn: u.upn,
  unique_name: u.upn,
  idtyp: 'user',
  ...extra,
})
const appClaims = (a: { oid: string; appid: string }, extra: Record<string, unknown> = {}) => ({
  oid: a.oid,
  sub: a.oid,
  appid: a.appid,
  appidacr: '1',
  idtyp: 'app',
  ...extra,
})

beforeAll(async () => {
  f = await startFrontFixture()
  const create = `select pgaadauth_create_principal_with_oid($1, $2, $3, false, false)`
  await f.upstream.adminQuery(create, [alice.upn, alice.oid, 'user'])
  await f.upstream.adminQuery(create, [app.name, app.oid, 'service'])
  await f.upstream.adminQuery(create, [other.name, other.oid, 'service'])
  await f.upstream.adminQuery(create, [group.name, group.oid, 'group'])
  await f.upstream.adminQuery(`create role plain_user login password 'correct horse'`)
  await f.upstream.adminQuery(
    `begin; set local password_encryption = 'md5'; create role md5_user login password 'old school'; commit`,
  )
})
afterAll(() => f?.stop())

describe('tokens for mapped roles', () => {
  it('connects a user with a token; current_user is the role', async () => {
    const token = await f.mint(userClaims(alice))
    const client = await f.connect(alice.upn, token)
    const { rows } = await client.query('select current_user as role')
    expect(rows[0].role).toBe(alice.upn)
    const event = f.lastEvent(alice.upn)
    expect(event).toMatchObject({ type: 'accepted', method: 'token', oid: alice.oid })
    expect(event?.type === 'accepted' && event.tokenFingerprint).toMatch(/^sha256:[0-9a-f]{12}$/)
    await client.end()
  })

  it('matches a user by UPN case-insensitively', async () => {
    const token = await f.mint(userClaims(alice, { upn: alice.upn.toUpperCase() }))
    const client = await f.connect(alice.upn, token)
    expect((await client.query('select current_user as r')).rows[0].r).toBe(alice.upn)
    await client.end()
  })

  it("matches a user role created under another name by the user's oid", async () => {
    const dave = { upn: 'dave@contoso.example', oid: randomUUID() }
    await f.upstream.adminQuery(`select pgaadauth_create_principal_with_oid('dave_custom', $1, 'user', false, false)`, [
      dave.oid,
    ])
    const client = await f.connect('dave_custom', await f.mint(userClaims(dave)))
    expect((await client.query('select current_user as r')).rows[0].r).toBe('dave_custom')
    await client.end()
    const eve = { upn: 'eve@contoso.example', oid: randomUUID() }
    expect((await connectError(f.connect('dave_custom', await f.mint(userClaims(eve))))).code).toBe('28P01')
  })

  it("refuses an app token for a user role, even with the user's oid", async () => {
    const err = await connectError(
      f.connect(alice.upn, await f.mint(appClaims({ oid: alice.oid, appid: randomUUID() }))),
    )
    expect(err).toMatchObject({
      code: '28000',
      message: `Azure AD user token for role[${alice.upn}] is neither an AAD_AUTH_TOKENTYPE_APP_USER or an AAD_AUTH_TOKENTYPE_APP_OBO token.`,
    })
    expect(f.lastEvent(alice.upn)).toMatchObject({ reason: expect.stringContaining("is an app's") })
  })

  it('connects a service principal by oid', async () => {
    const client = await f.connect(app.name, await f.mint(appClaims(app)))
    expect((await client.query('select current_user as r')).rows[0].r).toBe(app.name)
    await client.end()
  })

  it('connects a member of a group to the group role', async () => {
    const token = await f.mint(appClaims(app, { groups: [randomUUID(), group.oid] }))
    const client = await f.connect(group.name, token)
    expect((await client.query('select current_user as r')).rows[0].r).toBe(group.name)
    await client.end()
  })

  it('refuses a token that does not carry the group', async () => {
    const token = await f.mint(appClaims(app, { groups: [randomUUID()] }))
    const err = await connectError(f.connect(group.name, token))
    expect(err).toMatchObject({ code: '28P01', message: `password authentication failed for user "${group.name}"` })
    expect(f.lastEvent(group.name)).toMatchObject({ type: 'rejected', reason: expect.stringContaining('not a member') })
  })

  it("refuses principal A's token for role B", async () => {
    const err = await connectError(f.connect(other.name, await f.mint(appClaims(app))))
    expect(err.code).toBe('28P01')
    expect(f.lastEvent(other.name)).toMatchObject({
      type: 'rejected',
      code: '28P01',
      reason: expect.stringContaining(`token oid ${app.oid} does not match`),
    })
  })

  it("refuses another user's token for a user role", async () => {
    const bob = { upn: 'bob@contoso.example', oid: randomUUID() }
    const err = await connectError(f.connect(alice.upn, await f.mint(userClaims(bob))))
    expect(err.code).toBe('28P01')
    expect(f.lastEvent(alice.upn)).toMatchObject({
      reason: expect.stringContaining(`is not role "${alice.upn}"'s user`),
    })
  })

  it("refuses a user token for a service principal's role, even with the service principal's oid", async () => {
    const token = await f.mint(userClaims({ upn: 'mallory@contoso.example', oid: app.oid }))
    const err = await connectError(f.connect(app.name, token))
    expect(err).toMatchObject({
      code: '28000',
      message: `Service Principals cannot generate AAD_AUTH_TOKENTYPE_APP_USER tokens for role[${app.name}]`,
    })
    expect(f.lastEvent(app.name)).toMatchObject({ reason: expect.stringContaining("the token is a user's") })
  })

  it("refuses garbage with Azure's invalid-format text, the reason only in the event, never the token", async () => {
    const garbage = `not-a-jwt-${randomUUID()}`
    const err = await connectError(f.connect(app.name, garbage))
    expect(err).toMatchObject({ code: '28000', message: 'The access token has invalid format' })
    const event = f.lastEvent(app.name)
    expect(event).toMatchObject({ type: 'rejected', reason: expect.stringContaining('token rejected (malformed)') })
    expect(JSON.stringify(f.events)).not.toContain(garbage)
  })

  it("refuses an expired token (verifier) with Azure's expired text", async () => {
    const token = await f.mint(appClaims(app), { lifetimeSeconds: -120 })
    expect(await connectError(f.connect(app.name, token))).toMatchObject({
      code: '28000',
      message: 'The access token has expired. Please acquire a new token and retry.',
    })
    expect(f.lastEvent(app.name)).toMatchObject({ reason: expect.stringContaining('(expired)') })
  })

  it("refuses a token when the mapped role's password would match: mapped roles take tokens only", async () => {
    await f.upstream.adminQuery(`alter role "${app.name}" password 'not-a-token'`)
    expect((await connectError(f.connect(app.name, 'not-a-token'))).code).toBe('28000')
  })
})

describe('secrets', () => {
  it('keeps a token out of events even when a verifier puts it in its error', async () => {
    const events: FrontEvent[] = []
    const leaky = await startPgFront({
      host: '127.0.0.1',
      tls: f.serverTls,
      upstream: f.upstream,
      verifier: {
        verify: async (token) => {
          throw new Error(`cannot parse ${token}`)
        },
      },
      onEvent: (e) => events.push(e),
    })
    try {
      const token = await f.mint(appClaims(app))
      const err = await connectError(f.connect(app.name, token, { port: leaky.port }))
      expect(err.code).toBe('28000')
      expect(events.at(-1)).toMatchObject({ type: 'rejected', reason: expect.stringContaining('cannot parse sha256:') })
      expect(JSON.stringify(events)).not.toContain(token)
    } finally {
      await leaky.close()
    }
  })
})

describe('upstream refusals', () => {
  it("relays the upstream's own error for a database that does not exist", async () => {
    const err = await connectError(f.connect(app.name, await f.mint(appClaims(app)), { database: 'no_such_db' }))
    expect(err).toMatchObject({ code: '3D000', message: 'database "no_such_db" does not exist' })
    expect(f.lastEvent(app.name)).toMatchObject({ type: 'rejected', code: '3D000', method: 'token' })
  })
})

describe('TLS', () => {
  it("refuses a plain connection with FATAL 28000 and Flexible Server's pg_hba text", async () => {
    const err = await connectError(f.connect(app.name, await f.mint(appClaims(app)), { ssl: false }))
    expect(err.code).toBe('28000')
    expect(err.message).toBe(
      `no pg_hba.conf entry for host "127.0.0.1", user "${app.name}", database "postgres", no encryption`,
    )
  })

  it('psql with sslmode=verify-full connects with a token in PGPASSWORD', async () => {
    const token = await f.mint(appClaims(app))
    const { stdout } = await run('psql', ['-XAtc', 'select current_user'], {
      env: {
        PATH: process.env.PATH,
        PGHOST: '127.0.0.1',
        PGPORT: String(f.front.port),
        PGUSER: app.name,
        PGDATABASE: 'postgres',
        PGPASSWORD: token,
        PGSSLMODE: 'verify-full',
        PGSSLROOTCERT: f.caPath,
      },
    })
    expect(stdout.trim()).toBe(app.name)
  })

  it('psql with sslmode=disable is refused with 28000', async () => {
    const attempt = run('psql', ['-XAtc', 'select 1'], {
      env: {
        PATH: process.env.PATH,
        PGHOST: '127.0.0.1',
        PGPORT: String(f.front.port),
        PGUSER: app.name,
        PGDATABASE: 'postgres',
        PGPASSWORD: 'x',
        PGSSLMODE: 'disable',
      },
    })
    await expect(attempt).rejects.toMatchObject({
      stderr: expect.stringMatching(
        /no pg_hba.conf entry for host "127.0.0.1", user ".*", database "postgres", no encryption/,
      ),
    })
  })
})

describe('password roles', () => {
  it('connects an unmapped role with its SCRAM password', async () => {
    const client = await f.connect('plain_user', 'correct horse')
    expect((await client.query('select current_user as r')).rows[0].r).toBe('plain_user')
    expect(f.lastEvent('plain_user')).toMatchObject({ type: 'accepted', method: 'password' })
    await client.end()
  })

  it('refuses a wrong password with 28P01', async () => {
    const err = await connectError(f.connect('plain_user', 'wrong horse'))
    expect(err).toMatchObject({ code: '28P01', message: 'password authentication failed for user "plain_user"' })
    expect(f.lastEvent('plain_user')).toMatchObject({ type: 'rejected', reason: 'password does not match' })
  })

  it('connects a role with an md5 verifier, and refuses a wrong one', async () => {
    expect(await f.upstream.passwordVerifier('md5_user')).toMatch(/^md5[0-9a-f]{32}$/)
    const client = await f.connect('md5_user', 'old school')
    expect((await client.query('select current_user as r')).rows[0].r).toBe('md5_user')
    await client.end()
    expect((await connectError(f.connect('md5_user', 'new school'))).code).toBe('28P01')
  })

  it('normalises a non-ASCII password the way PostgreSQL (SASLprep) does', async () => {
    const decomposed = 'pa\u0308sswo\u0308rd'
    await f.upstream.adminQuery(`create role unicode_user login password '${decomposed}'`)
    expect(await f.upstream.passwordVerifier('unicode_user')).toMatch(/^SCRAM-SHA-256\$/)
    const client = await f.connect('unicode_user', decomposed.normalize('NFC'))
    await client.end()
    const again = await f.connect('unicode_user', decomposed)
    await again.end()
    expect((await connectError(f.connect('unicode_user', 'password'))).code).toBe('28P01')
  })

  it('refuses an unknown role with 28P01, like PostgreSQL', async () => {
    const err = await connectError(f.connect('nobody_here', 'whatever'))
    expect(err.code).toBe('28P01')
  })
})
