// Failures driven with generated inputs never print a token, a secret or a key: not in an error's message,
// String(error), util.inspect(error) (default depth, which includes `cause`), JSON.stringify(error), a logger line,
// an event, nor util.inspect(auth).
import net from 'node:net'
import { inspect } from 'node:util'
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { uniqueName, useEmulator } from '../../../../tools/test/emulator.js'
import { createPool } from '../../src/adapters/pg.js'
import { entraAuth } from '../../src/auth/entra-auth.js'
import type { EntraAuth, EntraAuthEvent, EntraAuthOptions } from '../../src/auth/types.js'
import type { AccessToken } from '../../src/shared/access-token.js'
import { type Emu, frontOf, type Principal, spOptions } from './_reliability.js'

/** The ways a secret could be printed: as is, percent-encoded (URLs, form bodies), base64. */
function spellings(secret: string): string[] {
  const forms = [
    secret,
    encodeURIComponent(secret),
    new URLSearchParams({ s: secret }).toString().slice(2),
    Buffer.from(secret).toString('base64'),
  ]
  return [...new Set(forms)].filter((form) => form.length >= 12)
}

/** Everything a user could see of a failure and of the auth object behind it. */
interface Surfaces {
  error?: unknown
  auth?: EntraAuth
  lines?: string[]
  events?: EntraAuthEvent[]
}

function printed({ error, auth, lines = [], events = [] }: Surfaces): Record<string, string> {
  const out: Record<string, string> = {}
  if (error !== undefined) {
    const e = error as { message?: unknown; hint?: unknown }
    out.message = String(e.message)
    out.hint = String(e.hint)
    out.string = String(error)
    out.inspect = inspect(error)
    out.json = JSON.stringify(error) ?? ''
  }
  if (auth) out.inspectAuth = inspect(auth)
  out.logger = lines.join('\n')
  out.events = events.map((event) => inspect(event)).join('\n')
  return out
}

/** The surfaces (by name) that show any spelling of any secret: [] when nothing leaked. */
function leaks(secrets: string[], surfaces: Surfaces): string[] {
  const forms = secrets.flatMap(spellings)
  return Object.entries(printed(surfaces))
    .filter(([, text]) => forms.some((form) => text.includes(form)))
    .map(([name]) => name)
}

function recorder() {
  const lines: string[] = []
  const events: EntraAuthEvent[] = []
  const record = (level: string) => (message: string, fields?: Record<string, unknown>) =>
    void lines.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`)
  const logger = { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') }
  return { lines, events, logger, listen: (auth: EntraAuth) => auth.on((event) => void events.push(event)) }
}

async function failure(attempt: () => Promise<unknown> | unknown): Promise<unknown> {
  try {
    await attempt()
  } catch (error) {
    return error
  }
  throw new Error('expected a failure')
}

/** Secrets as Entra issues them ([A-Za-z0-9~._-], 40 chars) and as users may mistype them (any printable text). */
const secretArb = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9~._-]{24,40}$/),
  fc
    .string({ unit: 'grapheme', minLength: 16, maxLength: 40 })
    .filter((s) => s.trim() === s && new Set(s).size >= 10 && !s.includes('\0')),
)

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

/**
 * Tokens a credential might hand back that the server refuses: random text, JWT-shaped with random claims and a
 * random signature, or a real token's header and claims with a forged signature.
 */
function tokenArb(realToken: string) {
  const signature = fc.stringMatching(/^[A-Za-z0-9_-]{43,342}$/)
  const [realHeader, realPayload] = realToken.split('.')
  return fc.oneof(
    fc.stringMatching(/^[A-Za-z0-9._~+/=-]{24,400}$/),
    fc
      .tuple(fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }), fc.jsonValue({ maxDepth: 2 })), signature)
      .map(([claims, sig]) => `${b64url({ alg: 'RS256', typ: 'JWT' })}.${b64url(claims)}.${sig}`),
    signature.map((sig) => `${realHeader}.${realPayload}.${sig}`),
  )
}

/** The parts of a token that make it a credential: all of it, and its signature when it has one. */
function tokenSecrets(token: string): string[] {
  const signature = token.split('.')[2]
  return signature && signature.length >= 12 ? [token, signature] : [token]
}

describe('secrets never printed, with generated inputs', () => {
  let emu: Emu
  let sp: Principal
  beforeAll(async () => {
    emu = await useEmulator()
    sp = await emu.addPrincipal({ kind: 'servicePrincipal', name: uniqueName('secrets') })
  })

  it('wrong client secrets: CREDENTIAL_REJECTED, and the secret nowhere', async () => {
    await fc.assert(
      fc.asyncProperty(secretArb, async (secret) => {
        const { lines, events, logger, listen } = recorder()
        const auth = entraAuth({ ...spOptions(emu, sp), clientSecret: secret, logger })
        listen(auth)
        try {
          const error = await failure(() => auth.password())
          expect((error as { code?: unknown }).code).toBe('CREDENTIAL_REJECTED')
          expect(leaks([secret], { error, auth, lines, events })).toEqual([])
        } finally {
          await auth.close()
        }
      }),
      { numRuns: 12 },
    )
  })

  it('tokens the server refuses: a coded error, and the token nowhere', async () => {
    const realToken = await emu.token(sp.name)
    const codes = new Set<unknown>()
    await fc.assert(
      fc.asyncProperty(tokenArb(realToken), fc.boolean(), async (token, userGiven) => {
        const { lines, events, logger, listen } = recorder()
        const credential = {
          getToken: async (): Promise<AccessToken> => ({ token, expiresOnTimestamp: Date.now() + 3_600_000 }),
        }
        const auth = entraAuth({ credential, logger })
        listen(auth)
        const pool = createPool({
          ...frontOf(emu),
          ...(userGiven ? { user: sp.roleName! } : {}),
          entra: auth,
          max: 1,
        })
        pool.on('error', () => {})
        try {
          const error = await failure(() => pool.query('select 1'))
          codes.add((error as { code?: unknown }).code)
          expect(['TOKEN_REFUSED', 'TOKEN_UNAVAILABLE', 'USER_NOT_DERIVABLE']).toContain(
            (error as { code?: unknown }).code,
          )
          expect(leaks(tokenSecrets(token), { error, auth, lines, events })).toEqual([])
        } finally {
          await pool.end()
          await auth.close()
        }
      }),
      { numRuns: 25 },
    )
    expect(codes).toContain('TOKEN_REFUSED') // some tokens did reach the server
  })

  it('refused connections (database and Entra): the secret and the cached token nowhere', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const server = net.createServer()
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as net.AddressInfo
        server.close(() => resolve(port))
      })
    })
    // Each generated secret goes through both refusals: Entra down, then the database down with a valid token.
    await fc.assert(
      fc.asyncProperty(secretArb, async (secret) => {
        for (const entraDown of [true, false]) {
          const { lines, events, logger, listen } = recorder()
          // Entra down: its authority refuses connections. Otherwise the secret is right and the database is down.
          const options: EntraAuthOptions = entraDown
            ? { ...spOptions(emu, sp), clientSecret: secret, authorityHost: `https://127.0.0.1:${closedPort}` }
            : spOptions(emu, sp)
          const auth = entraAuth({ ...options, logger })
          listen(auth)
          const secrets = [entraDown ? secret : sp.secret!]
          if (!entraDown) secrets.push(...tokenSecrets((await auth.token()).token))
          const pool = createPool({
            host: '127.0.0.1',
            port: closedPort,
            ssl: { ca: emu.ca },
            user: sp.roleName!,
            entra: auth,
            max: 1,
          })
          pool.on('error', () => {})
          try {
            const error = await failure(() => (entraDown ? auth.password() : pool.query('select 1')))
            expect((error as { code?: unknown }).code).toBe(entraDown ? 'ENTRA_UNREACHABLE' : 'CONNECTION_FAILED')
            expect(leaks(secrets, { error, auth, lines, events })).toEqual([])
          } finally {
            await pool.end()
            await auth.close()
          }
        }
      }),
      { numRuns: 8 },
    )
  })

  it('bad options carrying secret-looking values: a coded error, and the value nowhere', async () => {
    const host = { host: '127.0.0.1', port: 5432, database: 'postgres', ssl: { ca: 'x' } }
    const identity = { tenantId: sp.tenantId, clientId: sp.appId! }
    /** Each misuse puts `secret` where it does not belong, or next to a mistake. */
    const misuses: Record<string, (secret: string) => unknown> = {
      'secret without tenant and client': (s) => entraAuth({ clientSecret: s }),
      'secret and certificate both': (s) => entraAuth({ ...identity, clientSecret: s, certificatePath: '/x.pem' }),
      'secret and managed identity both': (s) => entraAuth({ clientSecret: s, managedIdentity: true }),
      'secret under an unknown key': (s) => entraAuth({ ...identity, client_secret: s } as EntraAuthOptions),
      'secret as a number option': (s) =>
        entraAuth({ ...identity, clientSecret: s, refreshBeforeMinutes: s } as unknown as EntraAuthOptions),
      'secret as the cloud': (s) => entraAuth({ ...identity, cloud: s } as unknown as EntraAuthOptions),
      'certificate password without certificate': (s) => entraAuth({ ...identity, certificatePassword: s }),
      'secret as managedIdentity': (s) => entraAuth({ managedIdentity: { secret: s } } as unknown as EntraAuthOptions),
      'password together with entra': (s) =>
        createPool({ ...host, password: s, entra: { ...identity, clientSecret: 'another-secret-value' } }),
      'URL password with a bad port': (s) =>
        createPool({ connectionString: `postgres://u:${encodeURIComponent(s)}@h:99999/db`, entra: {} }),
      'URL password with sslmode=disable': (s) =>
        createPool({ connectionString: `postgres://u:${encodeURIComponent(s)}@h/db?sslmode=disable`, entra: {} }),
      'URL password with a bad sslmode': (s) =>
        createPool({ connectionString: `postgres://u:${encodeURIComponent(s)}@h/db?sslmode=bogus`, entra: {} }),
      'URL password with two hosts': (s) =>
        createPool({ connectionString: `postgres://u:${encodeURIComponent(s)}@h1,h2/db`, entra: {} }),
      'URL password unencoded': (s) => createPool({ connectionString: `postgres://u:${s}@h:x/db`, entra: {} }),
      'key=value password with an unknown key': (s) =>
        createPool({ connectionString: `host=h password='${s.replaceAll("'", "\\'")}' bogus=1`, entra: {} }),
      'key=value password unterminated': (s) =>
        createPool({ connectionString: `host=h password='${s.replaceAll("'", "\\'")}`, entra: {} }),
    }
    await fc.assert(
      fc.asyncProperty(secretArb, fc.constantFrom(...Object.keys(misuses)), async (secret, misuse) => {
        // An unencoded /, ? or # ends a URL's authority: the rest (bad port included) is a valid path, query or
        // fragment, so that URL is no misuse at all.
        fc.pre(!(misuse === 'URL password unencoded' && /[/?#]/.test(secret)))
        const error = await failure(() => misuses[misuse]!(secret))
        expect(['INVALID_OPTION', 'TLS_REQUIRED'], misuse).toContain((error as { code?: unknown }).code)
        expect(leaks([secret], { error }), misuse).toEqual([])
      }),
      { numRuns: 200 },
    )
  })

  it('a key=value password with a space, left unquoted: the error quotes no part of it', async () => {
    const word = fc.stringMatching(/^[A-Za-z0-9~._-]{12,24}$/)
    const alphanumeric = fc.stringMatching(/^[A-Za-z0-9_]{12,24}$/) // most passwords: the parser reads it as a key
    await fc.assert(
      fc.asyncProperty(word, fc.oneof(word, alphanumeric), async (before, after) => {
        const error = await failure(() =>
          createPool({ connectionString: `host=h password=${before} ${after} dbname=db`, entra: {} }),
        )
        expect((error as { code?: unknown }).code).toBe('INVALID_OPTION')
        expect(leaks([before, after], { error })).toEqual([])
      }),
      { numRuns: 20 },
    )
  })

  it('inspecting a working auth shows neither its secret nor its tokens, nor do its log lines and events', async () => {
    const { lines, events, logger, listen } = recorder()
    const auth = entraAuth({ ...spOptions(emu, sp), logger })
    listen(auth)
    try {
      const first = (await auth.token()).token
      const second = (await auth.refresh()).token
      expect(second).not.toBe(first)
      expect(leaks([sp.secret!, ...tokenSecrets(first), ...tokenSecrets(second)], { auth, lines, events })).toEqual([])
      expect(lines.length).toBeGreaterThan(0)
      expect(events.filter((event) => event.type === 'token')).toHaveLength(2)
    } finally {
      await auth.close()
    }
  })

  it('a connected pool and its client, inspected, show neither the secret nor the token', async () => {
    const auth = entraAuth(spOptions(emu, sp))
    const pool = createPool({ ...frontOf(emu), user: sp.roleName!, entra: auth, max: 1 })
    try {
      const client = await pool.connect()
      try {
        await client.query('select 1')
        const { token } = await auth.token()
        const forms = [sp.secret!, ...tokenSecrets(token)].flatMap(spellings)
        for (const [name, text] of Object.entries({
          pool: inspect(pool),
          client: inspect(client),
          clientDeep: inspect(client, { depth: 6 }),
        })) {
          expect(forms.filter((form) => text.includes(form)).length, name).toBe(0)
        }
      } finally {
        client.release()
      }
    } finally {
      await pool.end()
      await auth.close()
    }
  })
})
