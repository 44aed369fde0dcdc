// End to end: tokens from the emulator's Entra ID open sessions through its Azure-like PostgreSQL front, with
// node-postgres and with psql (libpq, sslmode=verify-full); every bad token is refused with 28P01.
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { ClientSecretCredential } from '@azure/identity'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Emulator, type Principal, startEmulator } from '../src/index.js'
import { childEnv, credentialOptions, decodeJwt } from './entra-fixtures.js'

let em: Emulator
let api: Principal

beforeAll(async () => {
  em = await startEmulator({
    principals: [
      { kind: 'group', name: 'analysts' },
      { kind: 'servicePrincipal', name: 'orders-api' },
      { kind: 'servicePrincipal', name: 'billing-api' },
      { kind: 'user', upn: 'bob@contoso.example', groups: ['analysts'] },
      { kind: 'user', upn: 'carol@contoso.example', role: false },
      { kind: 'managedIdentity', name: 'orders-web', assignment: 'system', role: { name: 'orders_web', admin: true } },
    ],
  })
  api = em.principal('orders-api')
})
afterAll(() => em?.stop())

async function connect(user: string, password: string, ssl: pg.ClientConfig['ssl'] = { ca: em.ca }) {
  const client = new pg.Client({ host: em.pg.host, port: em.pg.port, database: em.pg.database, user, password, ssl })
  client.on('error', () => {})
  await client.connect()
  try {
    return (await client.query('select current_user')).rows[0].current_user as string
  } finally {
    await client.end()
  }
}

async function refusal(user: string, password: string, ssl?: pg.ClientConfig['ssl']) {
  try {
    await connect(user, password, ssl)
  } catch (e) {
    return e as { code?: string; message: string }
  }
  throw new Error(`connecting as ${user} was not refused`)
}

const appClaims = (p: Principal) => ({ oid: p.objectId, sub: p.objectId, appid: p.appId, appidacr: '1', idtyp: 'app' })

describe('connecting with a token', () => {
  it('node-postgres connects as the service principal with a ClientSecretCredential token', async () => {
    const credential = new ClientSecretCredential(em.tenantId, api.appId!, api.secret!, credentialOptions(em))
    const { token } = await credential.getToken(em.scope)
    expect(await connect('orders-api', token)).toBe('orders-api')
    const counters = await em.counters()
    expect(counters.pg.byRole['orders-api']?.tokenIds.at(-1)).toBe(decodeJwt(token).claims.uti)
  })

  it('psql (libpq) with sslmode=verify-full connects with the token in PGPASSWORD', async () => {
    const token = await em.token('orders-web')
    const env = childEnv({
      PGHOST: em.pg.host,
      PGPORT: String(em.pg.port),
      PGDATABASE: em.pg.database,
      PGUSER: 'orders_web',
      PGSSLMODE: 'verify-full',
      PGSSLROOTCERT: em.caPath,
      PGPASSWORD: token,
    })
    const out = await new Promise<string>((resolve, reject) =>
      execFile('psql', ['-XtAc', 'select current_user'], { env }, (e, stdout, stderr) =>
        e ? reject(new Error(stderr)) : resolve(stdout.trim()),
      ),
    )
    expect(out).toBe('orders_web')
  })

  it('a user connects by UPN, a group member through the group role, and a v2-issuer token is accepted', async () => {
    expect(await connect('bob@contoso.example', await em.token('bob@contoso.example'))).toBe('bob@contoso.example')
    expect(await connect('analysts', await em.token('bob@contoso.example'))).toBe('analysts')
    const v2 = await em.mintToken(appClaims(api), { issuer: em.issuers.v2 })
    expect(await connect('orders-api', v2)).toBe('orders-api')
  })

  it('a password role still connects with its password; the admin user too', async () => {
    const name = `reporting_${randomUUID().slice(0, 8)}`
    await em.createPasswordRole(name, 'correct horse battery staple')
    expect(await connect(name, 'correct horse battery staple')).toBe(name)
    expect((await refusal(name, 'wrong')).code).toBe('28P01')
    expect(await connect(em.pg.adminUser, em.pg.adminPassword)).toBe(em.pg.adminUser)
  })

  it('addPrincipal maps a new principal to a role that connects at once', async () => {
    const added = await em.addPrincipal({ kind: 'servicePrincipal', name: `late-${randomUUID().slice(0, 6)}` })
    expect(added.roleName).toBe(added.name)
    expect(await connect(added.name, await em.token(added.name))).toBe(added.name)
  })
})

const EXPIRED = { code: '28000', message: 'The access token has expired. Please acquire a new token and retry.' }
const VALIDATION = {
  code: '28000',
  message: 'An error occurred while validating the access token. Please acquire a new token and retry',
}
const AUDIENCE = {
  code: '28000',
  message:
    'The access token does not have a valid audience claim. Please acquire a new token for the resource "https://ossrdbms-aad.database.windows.net".',
}
const FORMAT = { code: '28000', message: 'The access token has invalid format' }
const PASSWORD = (role: string) => ({ code: '28P01', message: `password authentication failed for user "${role}"` })

describe("refused with Azure's texts", () => {
  const cases: [string, () => Promise<{ role: string; token: string }>, RegExp, { code: string; message: string }][] = [
    [
      'expired',
      async () => ({ role: 'orders-api', token: await em.mintToken(appClaims(api), { lifetimeSeconds: -600 }) }),
      /expired/,
      EXPIRED,
    ],
    [
      'not yet valid',
      async () => ({ role: 'orders-api', token: await em.mintToken(appClaims(api), { notBeforeSeconds: 600 }) }),
      /not-yet-valid/,
      VALIDATION,
    ],
    [
      'wrong audience',
      async () => ({
        role: 'orders-api',
        token: await em.mintToken(appClaims(api), { audience: 'https://management.azure.com' }),
      }),
      /audience/,
      AUDIENCE,
    ],
    [
      'wrong issuer',
      async () => ({
        role: 'orders-api',
        token: await em.mintToken(appClaims(api), { issuer: 'https://sts.example.invalid/' }),
      }),
      /issuer/,
      VALIDATION,
    ],
    [
      'wrong tenant',
      async () => ({ role: 'orders-api', token: await em.mintToken(appClaims(api), { tenantId: randomUUID() }) }),
      /tenant/,
      VALIDATION,
    ],
    [
      'unknown key id',
      async () => ({ role: 'orders-api', token: await em.mintToken(appClaims(api), { kid: 'no-such-key' }) }),
      /unknown-key/,
      VALIDATION,
    ],
    [
      'bad signature',
      async () => ({ role: 'orders-api', token: await em.mintToken(appClaims(api), { key: 'foreign' }) }),
      /signature/,
      VALIDATION,
    ],
    [
      'alg none',
      async () => ({ role: 'orders-api', token: await em.mintToken(appClaims(api), { alg: 'none' }) }),
      /malformed|algorithm/,
      FORMAT,
    ],
    [
      'HS256 signed with the public key',
      async () => ({ role: 'orders-api', token: await em.mintToken(appClaims(api), { alg: 'HS256-with-public-key' }) }),
      /malformed|algorithm/,
      FORMAT,
    ],
    [
      "principal A's token for role B",
      async () => ({ role: 'billing-api', token: await em.token('orders-api') }),
      /does not match/,
      PASSWORD('billing-api'),
    ],
    [
      "a user token for a service principal's role",
      async () => ({ role: 'orders-api', token: await em.token('bob@contoso.example') }),
      /user/,
      {
        code: '28000',
        message: 'Service Principals cannot generate AAD_AUTH_TOKENTYPE_APP_USER tokens for role[orders-api]',
      },
    ],
    [
      'a token of a user without a role for a group it is not in',
      async () => ({ role: 'analysts', token: await em.token('carol@contoso.example') }),
      /not a member/,
      PASSWORD('analysts'),
    ],
    ['garbage', async () => ({ role: 'orders-api', token: 'garbage.not.a-token' }), /malformed/, FORMAT],
  ]
  for (const [name, make, reason, expected] of cases) {
    it(name, async () => {
      const { role, token } = await make()
      const before = (await em.counters()).pg.byRole[role]?.rejected ?? 0
      const error = await refusal(role, token)
      expect({ code: error.code, message: error.message }).toEqual(expected)
      const after = (await em.counters()).pg.byRole[role]!
      expect(after.rejected).toBe(before + 1)
      expect(after.reasons.at(-1)).toMatch(reason)
      expect(after.reasons.at(-1)).not.toContain(token)
    })
  }

  it('a connection without TLS gets 28000', async () => {
    const error = await refusal('orders-api', await em.token('orders-api'), false)
    expect(error.code).toBe('28000')
  })
})
