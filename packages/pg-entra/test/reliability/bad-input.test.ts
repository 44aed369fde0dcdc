// Malformed options, connection strings and PG* variables get a coded INVALID_OPTION error naming the problem, up
// front: never a crash, a TypeError, or a config that fails later at connect time. A table of hand-written cases,
// then generated inputs (fast-check). Nothing here touches the network: the credential is a local stub.
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { Client, createPool, preparePgConfig } from '../../src/adapters/pg.js'
import { entraAuth } from '../../src/auth/entra-auth.js'
import type { EntraAuthOptions } from '../../src/auth/types.js'
import { isPgEntraError } from '../../src/errors/pg-entra-error.js'

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const TOKEN = `${b64url({ alg: 'RS256', typ: 'JWT' })}.${b64url({ upn: 'ada@example.test', idtyp: 'user', oid: 'o' })}.sig`
/** A credential that answers at once, so that configs resolve (user from the token) without any network. */
const credential = { getToken: async () => ({ token: TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }) }
const entra = { credential }

/** How a call failed, in terms an assertion can compare: a coded PgEntraError naming its option, or what else. */
async function outcomeOf(call: () => unknown) {
  try {
    const made = await call()
    await close(made)
    return { threw: false }
  } catch (error) {
    if (!isPgEntraError(error)) {
      return { threw: true, pgEntraError: false, error: `${(error as Error)?.name}: ${(error as Error)?.message}` }
    }
    const option = error.details.option
    return {
      threw: true,
      pgEntraError: true,
      code: error.code,
      option,
      namesOption: typeof option === 'string' && error.message.toLowerCase().includes(option.toLowerCase()),
      hinted: typeof error.hint === 'string' && error.hint.length > 0,
    }
  }
}

/** Ends whatever a successful call made (a pool, a client, an EntraAuth), without connecting. */
async function close(made: unknown): Promise<void> {
  const m = made as { end?: () => Promise<void>; close?: () => Promise<void> } | undefined
  if (m instanceof Client) return
  if (typeof m?.end === 'function') await m.end()
  else if (typeof m?.close === 'function') await m.close()
}

const invalid = (option: string) => ({
  threw: true,
  pgEntraError: true,
  code: 'INVALID_OPTION',
  option,
  namesOption: true,
  hinted: true,
})

type Case = [name: string, option: string, call: () => unknown]

const viaAuth =
  (options: unknown): (() => unknown) =>
  () =>
    entraAuth(options as EntraAuthOptions)
const viaPool =
  (config: object): (() => unknown) =>
  () =>
    createPool({ ...config, entra } as never)
const viaClient =
  (config: object): (() => unknown) =>
  () =>
    new Client({ ...config, entra } as never)
const viaResolve =
  (config: object): (() => unknown) =>
  () =>
    preparePgConfig({ ...config, entra } as never).then((prepared) => prepared.handle.release())
const url = (connectionString: string) => viaPool({ connectionString })

const table: Case[] = [
  // entraAuth options
  ['options that are a string', 'entra', viaAuth('yes')],
  ['options that are an array', 'entra', viaAuth([])],
  ['options that are a number', 'entra', viaAuth(42)],
  ['a secret without tenant and client', 'tenantId', viaAuth({ clientSecret: 's' })],
  ['a secret without client', 'clientId', viaAuth({ tenantId: 't', clientSecret: 's' })],
  ['tenant and client without a secret', 'clientSecret', viaAuth({ tenantId: 't', clientId: 'c' })],
  [
    'a secret and a certificate',
    'certificatePath',
    viaAuth({ tenantId: 't', clientId: 'c', clientSecret: 's', certificatePath: '/p.pem' }),
  ],
  ['refreshBeforeMinutes negative', 'refreshBeforeMinutes', viaAuth({ refreshBeforeMinutes: -1 })],
  ['refreshBeforeMinutes NaN', 'refreshBeforeMinutes', viaAuth({ refreshBeforeMinutes: Number.NaN })],
  ['refreshBeforeMinutes as text', 'refreshBeforeMinutes', viaAuth({ refreshBeforeMinutes: '5' })],
  ['an unknown cloud', 'cloud', viaAuth({ cloud: 'mars' })],
  ['managedIdentity with an empty clientId', 'managedIdentity', viaAuth({ managedIdentity: { clientId: '' } })],
  ['managedIdentity with two ids', 'managedIdentity', viaAuth({ managedIdentity: { clientId: 'a', resourceId: 'b' } })],
  ['managedIdentity false', 'managedIdentity', viaAuth({ managedIdentity: false })],
  ['managedIdentity with a tenant', 'tenantId', viaAuth({ managedIdentity: true, tenantId: 't' })],
  ['a credential without getToken', 'credential', viaAuth({ credential: {} })],
  ['a credential with a tenant', 'tenantId', viaAuth({ credential, tenantId: 't' })],
  ['an empty authorityHost', 'authorityHost', viaAuth({ authorityHost: '' })],
  ['an http authorityHost', 'authorityHost', viaAuth({ authorityHost: 'http://127.0.0.1:1' })],
  ['an authorityHost that is no URL', 'authorityHost', viaAuth({ authorityHost: 'https://exa mple' })],
  ['a scope that is a number', 'scope', viaAuth({ scope: 42 })],
  ['a logger that is a string', 'logger', viaAuth({ logger: 'console' })],
  ['a cache without get/set', 'cache', viaAuth({ cache: {} })],
  ['a misspelt option', 'Client_Secret', viaAuth({ Client_Secret: 'x' })],
  ['a certificate password without certificate', 'certificatePassword', viaAuth({ certificatePassword: 'p' })],
  ['allowUnverifiedTls as text', 'allowUnverifiedTls', viaAuth({ allowUnverifiedTls: 'yes' })],
  ['an authorityCa that is a number', 'authorityCa', viaAuth({ authorityCa: 42 })],
  ['an empty federatedTokenFile', 'federatedTokenFile', viaAuth({ federatedTokenFile: '' })],
  ['entra that is a string, through createPool', 'entra', () => createPool({ entra: 'yes' } as never)],
  // pg config with entra
  ['a password together with entra', 'password', viaPool({ password: 'p' })],
  ['a port that is not a number', 'port', viaPool({ port: 'abc' })],
  ['a negative port', 'port', viaPool({ port: -1 })],
  ['a port above 65535', 'port', viaPool({ port: 70_000 })],
  ['a fractional port', 'port', viaClient({ port: 5432.5 })],
  ['a host that is a number', 'host', viaPool({ host: 42 })],
  ['a user that is a number', 'user', viaClient({ user: 42 })],
  ['a database that is an object', 'database', viaResolve({ database: {} })],
  ['a connectionString that is a number', 'connectionString', viaPool({ connectionString: 42 })],
  // connection strings
  ['a blank connection string', 'connectionString', url('   ')],
  ['a mysql:// URL', 'connectionString', url('mysql://h/db')],
  ['port 0 in a URL', 'connectionString', url('postgres://h:0/db')],
  ['a port above 65535 in a URL', 'connectionString', url('postgres://h:70000/db')],
  ['a port that is not a number in a URL', 'connectionString', url('postgres://h:abc/db')],
  ['two hosts in a URL', 'connectionString', url('postgres://a,b/db')],
  ['a bad connect_timeout in a URL', 'connectionString', url('postgres://h/db?connect_timeout=abc')],
  ['an unknown sslmode in a URL', 'sslmode', url('postgres://h/db?sslmode=bogus')],
  ['a missing sslrootcert file in a URL', 'sslrootcert', url('postgres://h/db?sslrootcert=/nonexistent/ca.pem')],
  ['a port that is not a number, key=value', 'connectionString', url('host=h port=x')],
  ['an unterminated quote, key=value', 'connectionString', url("host='unterminated")],
  ['a key without a value', 'connectionString', url('host')],
  ['a value without a key', 'connectionString', url('=value')],
  ['an unknown key', 'connectionString', url('foo=bar')],
  ['a negative connect_timeout, key=value', 'connectionString', url('connect_timeout=-1 host=h')],
  ['an unknown sslmode, key=value', 'sslmode', url('host=h sslmode=bogus')],
  ['a missing sslkey file, key=value', 'sslkey', url('host=h sslmode=verify-full sslkey=/nonexistent/key.pem')],
]

const savedEnv = { ...process.env }
afterEach(() => {
  for (const name of Object.keys(process.env))
    if (name.startsWith('PG') && !(name in savedEnv)) delete process.env[name]
  for (const [name, value] of Object.entries(savedEnv)) if (name.startsWith('PG')) process.env[name] = value
})

describe('bad input: hand-written cases', () => {
  it.each(table)('%s: INVALID_OPTION naming %s', async (_name, option, call) => {
    expect(await outcomeOf(call)).toEqual(invalid(option))
  })

  it.each([
    ['PGPORT', 'abc'],
    ['PGPORT', '70000'],
    ['PGSSLMODE', 'bogus'],
    ['PGSSLROOTCERT', '/nonexistent/ca.pem'],
    ['PGCONNECT_TIMEOUT', 'soon'],
  ])('%s=%s in the environment: INVALID_OPTION naming it', async (name, value) => {
    process.env[name] = value
    const outcome = await outcomeOf(viaPool({ host: '127.0.0.1' }))
    expect(outcome).toMatchObject({ threw: true, pgEntraError: true, code: 'INVALID_OPTION', hinted: true })
    expect(
      [name, name.replace(/^PG/, '').toLowerCase()].some((n) =>
        String((outcome as { option?: string }).option)
          .toLowerCase()
          .includes(n.toLowerCase()),
      ),
    ).toBe(true)
  })
})

/** Either a sane config, or a coded error naming its option (TLS_REQUIRED when the input asks for weak TLS). */
async function resolvesOrNamesTheProblem(config: object) {
  let resolved: Awaited<ReturnType<typeof preparePgConfig>>['config']
  try {
    const prepared = await preparePgConfig({ ...config, entra } as never)
    resolved = prepared.config
    await prepared.handle.release()
  } catch (error) {
    expect(isPgEntraError(error), `${(error as Error)?.name}: ${(error as Error)?.message}`).toBe(true)
    if (!isPgEntraError(error)) return
    expect(['INVALID_OPTION', 'TLS_REQUIRED']).toContain(error.code)
    expect(typeof error.details.option).toBe('string')
    // INVALID_OPTION names the option in its message; TLS_REQUIRED may name it in its hint (what to remove)
    const named = error.code === 'TLS_REQUIRED' ? `${error.message} ${error.hint}` : error.message
    expect(named.toLowerCase()).toContain(String(error.details.option).toLowerCase())
    expect(error.hint).toBeTruthy()
    return
  }
  expect(typeof resolved.host === 'string' && resolved.host.length > 0, `host ${String(resolved.host)}`).toBe(true)
  expect(
    Number.isInteger(resolved.port) && resolved.port! >= 1 && resolved.port! <= 65_535,
    `port ${resolved.port}`,
  ).toBe(true)
  expect(typeof resolved.user === 'string' && resolved.user.length > 0, `user ${String(resolved.user)}`).toBe(true)
  expect(resolved.database === undefined || typeof resolved.database === 'string').toBe(true)
  expect(typeof resolved.password).toBe('function')
}

const text = fc.string({ maxLength: 24 })
const messy = fc.oneof(text, fc.constantFrom('', ' ', "'", '\\', '=', '%', '@', ':', '/', '?', '&', ',', '#', '\u0000'))
const portText = fc.oneof(fc.integer({ min: -10, max: 70_000 }).map(String), text)
const keyValueKeys = ['host', 'hostaddr', 'port', 'dbname', 'user', 'password', 'sslmode', 'application_name']

/** Connection strings near the valid ones: URLs and key=value lists built from messy parts, and plain noise. */
const connectionStringArb = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc
    .tuple(
      fc.constantFrom('postgres://', 'postgresql://', 'POSTGRES://', 'pg://', ''),
      fc.option(fc.tuple(messy, fc.option(messy)), { nil: undefined }),
      fc.oneof(fc.constantFrom('127.0.0.1', 'h', '[::1]', 'a,b', ''), messy),
      fc.option(portText, { nil: undefined }),
      fc.option(messy, { nil: undefined }),
      fc.array(fc.tuple(fc.constantFrom('sslmode', 'connect_timeout', 'application_name', 'options', 'x'), messy), {
        maxLength: 3,
      }),
    )
    .map(([scheme, userinfo, host, port, db, params]) => {
      const auth = userinfo ? `${userinfo[0]}${userinfo[1] === undefined ? '' : `:${userinfo[1]}`}@` : ''
      const query = params.length > 0 ? `?${params.map(([k, v]) => `${k}=${v}`).join('&')}` : ''
      return `${scheme}${auth}${host}${port === undefined ? '' : `:${port}`}${db === undefined ? '' : `/${db}`}${query}`
    }),
  fc
    .array(
      fc.tuple(
        fc.oneof(fc.constantFrom(...keyValueKeys), text),
        messy,
        fc.constantFrom('plain', 'quoted', 'half-quoted'),
      ),
      { maxLength: 5 },
    )
    .map((pairs) =>
      pairs
        .map(([k, v, quoting]) =>
          quoting === 'plain'
            ? `${k}=${v}`
            : quoting === 'quoted'
              ? `${k}='${v.replaceAll("'", "\\'")}'`
              : `${k}='${v}`,
        )
        .join(' '),
    ),
)

describe('bad input: generated', () => {
  it('entraAuth(anything): an EntraAuth, or INVALID_OPTION naming the option', async () => {
    await fc.assert(
      fc.asyncProperty(fc.anything({ maxDepth: 2 }), async (options) => {
        const outcome = await outcomeOf(() => entraAuth(options as EntraAuthOptions))
        if (outcome.threw)
          expect(outcome).toMatchObject({ pgEntraError: true, code: 'INVALID_OPTION', namesOption: true })
      }),
      { numRuns: 300 },
    )
  })

  it('entraAuth with every known option given odd values: an EntraAuth, or INVALID_OPTION naming the option', async () => {
    const odd = fc.oneof(fc.anything({ maxDepth: 1 }), fc.constant(credential), fc.constant(true), text)
    const keys = [
      'credential',
      'tenantId',
      'clientId',
      'clientSecret',
      'certificatePath',
      'certificatePassword',
      'federatedTokenFile',
      'managedIdentity',
      'cloud',
      'scope',
      'authorityHost',
      'authorityCa',
      'refreshBeforeMinutes',
      'allowUnverifiedTls',
      'cache',
      'logger',
    ]
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.constantFrom(...keys), odd, { maxKeys: 4 }), async (options) => {
        const outcome = await outcomeOf(() => entraAuth(options as EntraAuthOptions))
        if (outcome.threw)
          expect(outcome).toMatchObject({ pgEntraError: true, code: 'INVALID_OPTION', namesOption: true })
      }),
      { numRuns: 300 },
    )
  })

  it('pg fields of any type: a sane config, or a coded error naming the option', async () => {
    const field = (valid: fc.Arbitrary<unknown>) => fc.oneof(valid, fc.anything({ maxDepth: 1 }))
    await fc.assert(
      fc.asyncProperty(
        fc.record(
          {
            host: field(fc.constantFrom('127.0.0.1', 'db.example.test', '/var/run/postgresql')),
            port: field(fc.oneof(fc.integer({ min: -5, max: 70_000 }), portText)),
            user: field(fc.constantFrom('ada@example.test', 'app')),
            database: field(fc.constantFrom('postgres', 'app')),
            ssl: field(fc.constantFrom(true, { ca: 'x' })),
          },
          { requiredKeys: [] },
        ),
        async (config) => resolvesOrNamesTheProblem(config),
      ),
      { numRuns: 300 },
    )
  })

  it('connection strings of every shape: a sane config, or a coded error naming the option', async () => {
    await fc.assert(
      fc.asyncProperty(connectionStringArb, async (connectionString) =>
        resolvesOrNamesTheProblem({ connectionString }),
      ),
      { numRuns: 500 },
    )
  })

  it('PG* variables with odd values: a sane config, or a coded error naming the option', async () => {
    const envValue = messy.filter((value) => !value.includes('\u0000'))
    const names = ['PGHOST', 'PGPORT', 'PGDATABASE', 'PGUSER', 'PGSSLMODE', 'PGCONNECT_TIMEOUT', 'PGAPPNAME']
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.constantFrom(...names), envValue, { maxKeys: 3 }), async (variables) => {
        for (const name of names) delete process.env[name]
        Object.assign(process.env, variables)
        try {
          await resolvesOrNamesTheProblem({})
        } finally {
          for (const name of names) delete process.env[name]
        }
      }),
      { numRuns: 200 },
    )
  })
})
