// Malformed options, connection strings and PG* variables get a coded INVALID_OPTION error naming the problem, up
// front: never a crash, a TypeError, or a config that fails later at connect time. A table of hand-written cases,
// then generated inputs (fast-check). Nothing here touches the network: the credential is a local stub.
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { Client, createPool, resolvePgConfig } from '../../src/adapters/pg.js'
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
      namesOption: typeof option === 'string' && option !== '' && error.message.includes(option),
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

type Case = [name: string, call: () => unknown, option: string]

const viaAuth = (options: unknown): (() => unknown) => () => entraAuth(options as EntraAuthOptions)
const viaPool = (config: object): (() => unknown) => () => createPool({ ...config, entra } as never)
const viaClient = (config: object): (() => unknown) => () => new Client({ ...config, entra } as never)
const viaResolve = (config: object): (() => unknown) => () => resolvePgConfig({ ...config, entra } as never)
const url = (connectionString: string) => viaPool({ connectionString })

const table: Case[] = [
  // entraAuth options
  ['options that are a string', viaAuth('yes'), 'entra'],
  ['options that are an array', viaAuth([]), 'entra'],
  ['options that are a number', viaAuth(42), 'entra'],
  ['a secret without tenant and client', viaAuth({ clientSecret: 's' }), 'tenantId'],
  ['a secret without client', viaAuth({ tenantId: 't', clientSecret: 's' }), 'clientId'],
  ['tenant and client without a secret', viaAuth({ tenantId: 't', clientId: 'c' }), 'clientSecret'],
  [
    'a secret and a certificate',
    viaAuth({ tenantId: 't', clientId: 'c', clientSecret: 's', certificatePath: '/p.pem' }),
    'certificatePath',
  ],
  ['refreshBeforeMinutes negative', viaAuth({ refreshBeforeMinutes: -1 }), 'refreshBeforeMinutes'],
  ['refreshBeforeMinutes NaN', viaAuth({ refreshBeforeMinutes: Number.NaN }), 'refreshBeforeMinutes'],
  ['refreshBeforeMinutes as text', viaAuth({ refreshBeforeMinutes: '5' }), 'refreshBeforeMinutes'],
  ['an unknown cloud', viaAuth({ cloud: 'mars' }), 'cloud'],
  ['managedIdentity with an empty clientId', viaAuth({ managedIdentity: { clientId: '' } }), 'managedIdentity'],
  ['managedIdentity with two ids', viaAuth({ managedIdentity: { clientId: 'a', resourceId: 'b' } }), 'managedIdentity'],
  ['managedIdentity false', viaAuth({ managedIdentity: false }), 'managedIdentity'],
  ['managedIdentity with a tenant', viaAuth({ managedIdentity: true, tenantId: 't' }), 'tenantId'],
  ['a credential without getToken', viaAuth({ credential: {} }), 'credential'],
  ['a credential with a tenant', viaAuth({ credential, tenantId: 't' }), 'tenantId'],
  ['an empty authorityHost', viaAuth({ authorityHost: '' }), 'authorityHost'],
  ['an http authorityHost', viaAuth({ authorityHost: 'http://127.0.0.1:1' }), 'authorityHost'],
  ['an authorityHost that is no URL', viaAuth({ authorityHost: 'https://exa mple' }), 'authorityHost'],
  ['a scope that is a number', viaAuth({ scope: 42 }), 'scope'],
  ['a logger that is a string', viaAuth({ logger: 'console' }), 'logger'],
  ['a cache without get/set', viaAuth({ cache: {} }), 'cache'],
  ['a misspelt option', viaAuth({ Client_Secret: 'x' }), 'Client_Secret'],
  ['a certificate password without certificate', viaAuth({ certificatePassword: 'p' }), 'certificatePassword'],
  ['allowUnverifiedTls as text', viaAuth({ allowUnverifiedTls: 'yes' }), 'allowUnverifiedTls'],
  ['an authorityCa that is a number', viaAuth({ authorityCa: 42 }), 'authorityCa'],
  ['an empty federatedTokenFile', viaAuth({ federatedTokenFile: '' }), 'federatedTokenFile'],
  ['entra that is a string, through createPool', () => createPool({ entra: 'yes' } as never), 'entra'],
  // pg config with entra
  ['a password together with entra', viaPool({ password: 'p' }), 'password'],
  ['a port that is not a number', viaPool({ port: 'abc' }), 'port'],
  ['a negative port', viaPool({ port: -1 }), 'port'],
  ['a port above 65535', viaPool({ port: 70_000 }), 'port'],
  ['a fractional port', viaClient({ port: 5432.5 }), 'port'],
  ['a host that is a number', viaPool({ host: 42 }), 'host'],
  ['a user that is a number', viaClient({ user: 42 }), 'user'],
  ['a database that is an object', viaResolve({ database: {} }), 'database'],
  ['a connectionString that is a number', viaPool({ connectionString: 42 }), 'connectionString'],
  // connection strings
  ['a blank connection string', url('   '), 'connectionString'],
  ['a mysql:// URL', url('mysql://h/db'), 'connectionString'],
  ['port 0 in a URL', url('postgres://h:0/db'), 'connectionString'],
  ['a port above 65535 in a URL', url('postgres://h:70000/db'), 'connectionString'],
  ['a port that is not a number in a URL', url('postgres://h:abc/db'), 'connectionString'],
  ['two hosts in a URL', url('postgres://a,b/db'), 'connectionString'],
  ['bad percent-encoding in a URL', url('postgres://%E0%A4%A@h/db'), 'connectionString'],
  ['a bad connect_timeout in a URL', url('postgres://h/db?connect_timeout=abc'), 'connectionString'],
  ['an unknown sslmode in a URL', url('postgres://h/db?sslmode=bogus'), 'sslmode'],
  ['a missing sslrootcert file in a URL', url('postgres://h/db?sslrootcert=/nonexistent/ca.pem'), 'sslrootcert'],
  ['a port that is not a number, key=value', url('host=h port=x'), 'connectionString'],
  ['an unterminated quote, key=value', url("host='unterminated"), 'connectionString'],
  ['a key without a value', url('host'), 'connectionString'],
  ['a value without a key', url('=value'), 'connectionString'],
  ['an unknown key', url('foo=bar'), 'connectionString'],
  ['a negative connect_timeout, key=value', url('connect_timeout=-1 host=h'), 'connectionString'],
  ['an unknown sslmode, key=value', url('host=h sslmode=bogus'), 'sslmode'],
  ['a missing sslkey file, key=value', url('host=h sslmode=verify-full sslkey=/nonexistent/key.pem'), 'sslkey'],
]

const savedEnv = { ...process.env }
afterEach(() => {
  for (const name of Object.keys(process.env)) if (name.startsWith('PG') && !(name in savedEnv)) delete process.env[name]
  for (const [name, value] of Object.entries(savedEnv)) if (name.startsWith('PG')) process.env[name] = value
})

describe('bad input: hand-written cases', () => {
  it.each(table)('%s: INVALID_OPTION naming %s', async (_name, call, option) => {
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
        String((outcome as { option?: string }).option).toLowerCase().includes(n.toLowerCase()),
      ),
    ).toBe(true)
  })
})

/** Either a sane config, or a coded error naming its option (TLS_REQUIRED when the input asks for weak TLS). */
async function resolvesOrNamesTheProblem(config: object) {
  let resolved: Awaited<ReturnType<typeof resolvePgConfig>>
  try {
    resolved = await resolvePgConfig({ ...config, entra } as never)
  } catch (error) {
    expect(isPgEntraError(error), `${(error as Error)?.name}: ${(error as Error)?.message}`).toBe(true)
    if (!isPgEntraError(error)) return
    expect(['INVALID_OPTION', 'TLS_REQUIRED']).toContain(error.code)
    expect(typeof error.details.option).toBe('string')
    expect(error.message).toContain(String(error.details.option))
    expect(error.hint).toBeTruthy()
    return
  }
  expect(typeof resolved.host === 'string' && resolved.host.length > 0, `host ${String(resolved.host)}`).toBe(true)
  expect(Number.isInteger(resolved.port) && resolved.port! >= 1 && resolved.port! <= 65_535, `port ${resolved.port}`).toBe(
    true,
  )
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
          quoting === 'plain' ? `${k}=${v}` : quoting === 'quoted' ? `${k}='${v.replaceAll("'", "\\'")}'` : `${k}='${v}`,
        )
        .join(' '),
    ),
)

describe('bad input: generated', () => {
  it('entraAuth(anything): an EntraAuth, or INVALID_OPTION naming the option', async () => {
    await fc.assert(
      fc.asyncProperty(fc.anything({ maxDepth: 2 }), async (options) => {
        const outcome = await outcomeOf(() => entraAuth(options as EntraAuthOptions))
        if (outcome.threw) expect(outcome).toMatchObject({ pgEntraError: true, code: 'INVALID_OPTION', namesOption: true })
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
        if (outcome.threw) expect(outcome).toMatchObject({ pgEntraError: true, code: 'INVALID_OPTION', namesOption: true })
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
      fc.asyncProperty(connectionStringArb, async (connectionString) => resolvesOrNamesTheProblem({ connectionString })),
      { numRuns: 500 },
    )
  })

  it('PG* variables with odd values: a sane config, or a coded error naming the option', async () => {
    const names = ['PGHOST', 'PGPORT', 'PGDATABASE', 'PGUSER', 'PGSSLMODE', 'PGCONNECT_TIMEOUT', 'PGAPPNAME']
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.constantFrom(...names), messy, { maxKeys: 3 }), async (variables) => {
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
