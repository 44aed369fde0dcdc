import { inspect } from 'node:util'
import { CredentialUnavailableError } from '@azure/identity'
import { describe, expect, it } from 'vitest'
import { createEntraAuth, entraAuth, isEntraAuth } from '../../src/auth/entra-auth.js'
import type { EntraAuthEvent } from '../../src/auth/types.js'
import { PgEntraError } from '../../src/errors/pg-entra-error.js'
import type { IdentityModule } from '../../src/identity/credential.js'
import type { AccessToken, GetTokenOptions } from '../../src/shared/access-token.js'
import { manualClock } from '../../src/shared/manual-clock.js'
import { fakeJwt } from './_jwt.js'
import { rejected, thrown } from './_thrown.js'

const HOUR = 3_600_000
const secret = 'Zz9~very.Secret-value_123'

/** A credential that answers from a script: each call takes the next entry (a token maker or an error). */
function scriptedCredential(clock: { now(): number }, claims: Record<string, unknown> = { upn: 'ada@contoso.com' }) {
  const calls: { scopes: string | string[]; options: GetTokenOptions | undefined }[] = []
  const failures: unknown[] = []
  const nextClaims: Record<string, unknown>[] = []
  let serial = 0
  let release: (() => void) | undefined
  let gate: Promise<void> | undefined
  return {
    calls,
    failNext(error: unknown) {
      failures.push(error)
    },
    /** The next token carries these claims instead (e.g. another audience). */
    claimsNext(claims: Record<string, unknown>) {
      nextClaims.push(claims)
    },
    hold() {
      gate = new Promise((resolve) => {
        release = resolve
      })
    },
    release() {
      release?.()
      gate = undefined
    },
    credential: {
      async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
        calls.push({ scopes, options })
        if (gate) await gate
        if (failures.length > 0) throw failures.shift()
        serial++
        return {
          token: fakeJwt({ ...(nextClaims.shift() ?? claims), n: serial }),
          expiresOnTimestamp: clock.now() + HOUR,
        }
      },
    },
  }
}

describe('entraAuth', () => {
  it('makes one request for 1,000 concurrent password() calls, and then none', async () => {
    const clock = manualClock()
    const script = scriptedCredential(clock)
    const auth = entraAuth({ credential: script.credential, clock, random: () => 0 })
    script.hold()
    const all = Array.from({ length: 1000 }, () => auth.password())
    script.release()
    const passwords = await Promise.all(all)
    expect(new Set(passwords).size).toBe(1)
    expect(script.calls).toHaveLength(1)
    expect(script.calls[0]!.scopes).toBe('https://ossrdbms-aad.database.windows.net/.default')
    expect(script.calls[0]!.options?.abortSignal).toBeInstanceOf(AbortSignal)
    await auth.password()
    expect(script.calls).toHaveLength(1)
    expect(auth.stats().requests).toBe(1)
    await auth.close()
  })

  it("passes a shared store's own warnings to listeners until close()", async () => {
    const clock = manualClock()
    const warn: ((error: PgEntraError) => void)[] = []
    const store = {
      kind: 'test',
      get: async () => undefined,
      set: async () => {},
      onWarning(listener: (error: PgEntraError) => void) {
        warn.push(listener)
        return () => warn.splice(warn.indexOf(listener), 1)
      },
    }
    const auth = entraAuth({ credential: scriptedCredential(clock).credential, clock, cache: store })
    const events: EntraAuthEvent[] = []
    auth.on((event) => events.push(event))
    for (const listener of warn) listener(new PgEntraError('CACHE_ERROR', 'redis is down'))
    expect(events).toMatchObject([{ type: 'warning', error: { code: 'CACHE_ERROR' } }])
    await auth.close()
    expect(warn).toHaveLength(0)
  })

  it('hands out `password` as a bound function', async () => {
    const clock = manualClock()
    const script = scriptedCredential(clock)
    const { password } = entraAuth({ credential: script.credential, clock })
    expect(typeof (await password())).toBe('string')
  })

  it('refreshes refreshBeforeMinutes (default 5) before expiry', async () => {
    for (const [minutes, dueMin] of [
      [undefined, 55],
      [10, 50],
    ] as const) {
      const clock = manualClock()
      const script = scriptedCredential(clock)
      const auth = entraAuth({ credential: script.credential, clock, random: () => 0, refreshBeforeMinutes: minutes })
      await auth.password()
      await clock.advanceAsync(dueMin * 60_000 - 1000)
      expect(script.calls).toHaveLength(1)
      await clock.advanceAsync(2000)
      expect(script.calls).toHaveLength(2)
      await auth.close()
    }
  })

  it('derives the principal from the token and explains when it cannot', async () => {
    const clock = manualClock()
    const user = entraAuth({
      credential: scriptedCredential(clock, { idtyp: 'user', upn: 'ada@contoso.com', oid: 'o' }).credential,
      clock,
    })
    expect(await user.principal()).toBe('ada@contoso.com')
    expect(await user.identity()).toMatchObject({ kind: 'user', objectId: 'o' })
    const app = entraAuth({
      credential: scriptedCredential(clock, { idtyp: 'app', appid: 'a', oid: 'o' }).credential,
      clock,
    })
    const error = await rejected(app.principal())
    expect(error.code).toBe('USER_NOT_DERIVABLE')
    expect(error.message).toContain('appid')
  })

  it('reports tokens and failures to the logger and listeners, without the token or secret', async () => {
    const clock = manualClock()
    const script = scriptedCredential(clock)
    const lines: string[] = []
    const record = (level: string) => (message: string, fields?: Record<string, unknown>) =>
      lines.push(`${level} ${message} ${JSON.stringify(fields)}`)
    const logger = { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') }
    const auth = createEntraAuth({ credential: script.credential, clock, random: () => 0, logger }, { env: {} })
    const events: EntraAuthEvent[] = []
    const off = auth.on((event) => events.push(event))
    const token = await auth.password()
    script.failNext(new Error(`AADSTS7000215: Invalid client secret provided. secret=${secret} token=${token}`))
    await auth.refresh().catch(() => undefined)
    off()
    expect(events.map((e) => e.type)).toContain('token')
    expect(lines.some((line) => line.startsWith('info pg-entra: token acquired'))).toBe(true)
    expect(lines.some((line) => line.includes('CREDENTIAL_REJECTED'))).toBe(true)
    const everything = `${lines.join('\n')}\n${inspect(events, { depth: 10 })}`
    expect(everything).not.toContain(token)
    expect(everything).not.toContain(secret)
    await auth.close()
  })

  it('shows no secret in util.inspect, JSON or errors of an EntraAuth', async () => {
    const auth = createEntraAuth(
      { tenantId: 'tenant-1', clientId: 'client-1', clientSecret: secret, authorityHost: 'https://127.0.0.1:1' },
      { env: {}, loadIdentity: async () => ({}) as IdentityModule },
    )
    const shown = `${inspect(auth, { depth: 10, showHidden: true })}\n${JSON.stringify(auth)}\n${String(auth)}`
    expect(shown).toContain('service principal client-1 in tenant tenant-1')
    expect(shown).not.toContain(secret)
    expect(isEntraAuth(auth)).toBe(true)
    await auth.close()
  })

  it('loads @azure/identity only at the first token request', async () => {
    let loads = 0
    const clock = manualClock()
    const script = scriptedCredential(clock)
    const module = {
      ManagedIdentityCredential: class {
        getToken = script.credential.getToken
      },
    } as unknown as IdentityModule
    const auth = createEntraAuth(
      { managedIdentity: true, clock },
      {
        env: {},
        loadIdentity: async () => {
          loads++
          return module
        },
      },
    )
    expect(loads).toBe(0)
    await auth.password()
    await auth.password()
    expect(loads).toBe(1)
    await auth.close()
  })

  it('a managed identity with no endpoint in the environment that IMDS does not answer: CREDENTIAL_UNAVAILABLE, not an outage', async () => {
    // What @azure/identity's ManagedIdentityCredential throws off Azure (its IMDS probe finds nothing at 169.254.169.254).
    const offAzure = new CredentialUnavailableError(
      'ManagedIdentityCredential: Network unreachable. Message: network_error: See https://aka.ms/msal.js.errors#network_error for details',
    )
    const module = {
      ManagedIdentityCredential: class {
        getToken = () => Promise.reject(offAzure)
      },
    } as unknown as IdentityModule
    for (const [env, code] of [
      [{}, 'CREDENTIAL_UNAVAILABLE'],
      // An endpoint the environment names (App Service) that does not answer is an outage: retried, last token kept.
      [{ IDENTITY_ENDPOINT: 'http://127.0.0.1:1/msi/token', IDENTITY_HEADER: 'h' }, 'ENTRA_UNREACHABLE'],
    ] as const) {
      const auth = createEntraAuth(
        { managedIdentity: true, clock: manualClock(), requestTimeoutMs: 1000 },
        { env, loadIdentity: async () => module },
      )
      const error = await rejected(auth.token())
      expect(error.code).toBe(code)
      if (code === 'CREDENTIAL_UNAVAILABLE') {
        expect(error.message).toContain('Instance Metadata Service (169.254.169.254)')
        expect(error.hint).toContain('pg-entra-emulator start')
      }
      await auth.close()
    }
  })

  it('validates options at once and fails later calls with CLOSED after close()', async () => {
    expect(thrown(() => entraAuth({ clientSecret: 's', certificatePath: '/c' })).code).toBe('INVALID_OPTION')
    const clock = manualClock()
    const auth = entraAuth({ credential: scriptedCredential(clock).credential, clock })
    await auth.close()
    expect((await rejected(auth.password())).code).toBe('CLOSED')
    expect(clock.pending()).toBe(0)
  })

  it('asks the credential to skip its own cache after invalidate() and refresh(), not otherwise', async () => {
    const clock = manualClock()
    const script = scriptedCredential(clock)
    const auth = entraAuth({ credential: script.credential, clock, random: () => 0 })
    const first = await auth.password()
    auth.invalidate(first)
    await auth.password()
    await auth.refresh()
    const claims = script.calls.map((call) => (call.options as { claims?: string } | undefined)?.claims)
    const fresh = JSON.stringify({
      access_token: { nbf: { essential: true, value: String(Math.floor(clock.now() / 1000)) } },
    })
    expect(claims).toEqual([undefined, fresh, fresh])
    await auth.close()
  })

  it('classifies credential errors: a null token is TOKEN_UNAVAILABLE', async () => {
    const clock = manualClock()
    const auth = entraAuth({ credential: { getToken: async () => null }, clock, random: () => 0 })
    const error = await rejected(auth.password())
    expect(error.code).toBe('TOKEN_UNAVAILABLE')
    await auth.close()
  })

  describe('a credential that answered 5xx or 429', () => {
    const throttled = () =>
      Object.assign(new Error('AADSTS50196: Request throttled. Retry after 1 s.'), {
        name: 'AuthenticationError',
        statusCode: 429,
      })

    /** An @azure/identity stand-in whose every credential shares one script and counts how often it is built. */
    function countingModule(script: ReturnType<typeof scriptedCredential>) {
      const built: string[] = []
      const credentialClass = (name: string) =>
        class {
          constructor() {
            built.push(name)
          }
          getToken = script.credential.getToken
        }
      const module = {
        ClientSecretCredential: credentialClass('ClientSecretCredential'),
        ManagedIdentityCredential: credentialClass('ManagedIdentityCredential'),
      } as unknown as IdentityModule
      return { built, loadIdentity: async () => module }
    }

    it('drops a client credential it built, so that the next attempt asks Entra with a fresh one', async () => {
      const clock = manualClock()
      const script = scriptedCredential(clock)
      const { built, loadIdentity } = countingModule(script)
      const auth = createEntraAuth(
        {
          tenantId: 't',
          clientId: 'c',
          clientSecret: secret,
          authorityHost: 'https://127.0.0.1:1',
          clock,
          random: () => 0,
        },
        { env: {}, loadIdentity },
      )
      const good = await auth.password()
      expect(built).toEqual(['ClientSecretCredential'])
      script.failNext(throttled())
      expect((await auth.refresh()).token).toBe(good) // the last good token serves meanwhile
      expect(auth.stats().lastError?.code).toBe('ENTRA_UNREACHABLE')
      const fresh = await auth.refresh()
      expect(fresh.token).not.toBe(good)
      expect(built).toEqual(['ClientSecretCredential', 'ClientSecretCredential'])
      await auth.close()
    })

    it('keeps the credential after other failures, and keeps a managed identity or a given credential', async () => {
      const clock = manualClock()
      const rejectedSecret = Object.assign(new Error('AADSTS7000215: Invalid client secret provided.'), {
        statusCode: 401,
      })
      const script = scriptedCredential(clock)
      const sp = countingModule(script)
      const spAuth = createEntraAuth(
        {
          tenantId: 't',
          clientId: 'c',
          clientSecret: secret,
          authorityHost: 'https://127.0.0.1:1',
          clock,
          random: () => 0,
        },
        { env: {}, loadIdentity: sp.loadIdentity },
      )
      await spAuth.password()
      script.failNext(rejectedSecret)
      await spAuth.refresh()
      expect(spAuth.stats().lastError?.code).toBe('CREDENTIAL_REJECTED')
      await spAuth.refresh()
      expect(sp.built).toEqual(['ClientSecretCredential'])

      const mi = countingModule(script)
      const miAuth = createEntraAuth(
        { managedIdentity: true, clock, random: () => 0 },
        { env: {}, loadIdentity: mi.loadIdentity },
      )
      await miAuth.password()
      script.failNext(throttled())
      await miAuth.refresh()
      expect(miAuth.stats().lastError?.code).toBe('ENTRA_UNREACHABLE')
      await miAuth.refresh()
      expect(mi.built).toEqual(['ManagedIdentityCredential'])

      const givenAuth = entraAuth({ credential: script.credential, clock, random: () => 0 })
      await givenAuth.password()
      const before = await givenAuth.password()
      script.failNext(throttled())
      await givenAuth.refresh()
      expect(givenAuth.stats().lastError?.code).toBe('ENTRA_UNREACHABLE')
      expect((await givenAuth.refresh()).token).not.toBe(before)
      await Promise.all([spAuth.close(), miAuth.close(), givenAuth.close()])
    })
  })

  describe("a token for another audience than the scope's resource", () => {
    const database = 'https://ossrdbms-aad.database.windows.net'

    it('is refused (TOKEN_UNAVAILABLE naming both audiences), the last good token serves, the next request skips the cache', async () => {
      const clock = manualClock()
      const script = scriptedCredential(clock, { aud: database, upn: 'ada@contoso.com' })
      const auth = entraAuth({ credential: script.credential, clock, random: () => 0 })
      const failures: PgEntraError[] = []
      auth.on((event) => {
        if (event.type === 'refresh-failed') failures.push(event.error)
      })
      const good = await auth.password()
      script.claimsNext({ aud: 'https://management.azure.com', upn: 'ada@contoso.com' })
      expect((await auth.refresh()).token).toBe(good)
      expect(failures).toHaveLength(1)
      const error = failures[0]!
      expect(error.code).toBe('TOKEN_UNAVAILABLE')
      expect(error.message).toBe(
        `the credential returned a token for https://management.azure.com, not for ${database}`,
      )
      expect(error.hint).toContain('check scope / cloud')
      expect(`${error.message} ${error.hint} ${inspect(error, { depth: 10 })}`).not.toMatch(/eyJ/)
      expect(auth.stats()).toMatchObject({ failures: 1, lastError: { code: 'TOKEN_UNAVAILABLE' } })
      expect(await auth.password()).toBe(good)
      // the refused token may sit in the credential's cache: the next request asks for a token issued from now on
      await clock.advanceAsync(1_000)
      await auth.refresh()
      const claims = (script.calls.at(-1)!.options as { claims?: string }).claims
      expect(claims).toBe(
        JSON.stringify({ access_token: { nbf: { essential: true, value: String(Math.floor(clock.now() / 1000)) } } }),
      )
      expect(await auth.password()).not.toBe(good)
      await auth.close()
    })

    it.each([
      ['another resource', ['https://graph.microsoft.com'], 'https://graph.microsoft.com'],
      ["another app's id", '00000003-0000-0000-c000-000000000000', '00000003-0000-0000-c000-000000000000'],
    ])('fails the first request the same way for %s, when no good token was ever had', async (_, aud, named) => {
      const clock = manualClock()
      const script = scriptedCredential(clock, { aud, upn: 'ada@contoso.com' })
      const auth = entraAuth({ credential: script.credential, clock, random: () => 0 })
      const error = await rejected(auth.password())
      expect(error.code).toBe('TOKEN_UNAVAILABLE')
      expect(error.details).toMatchObject({ audience: named, expectedAudience: database })
      await auth.close()
    })

    it.each([
      ['the resource', database, undefined],
      ['the resource with a trailing slash', `${database}/`, undefined],
      ['an array holding the resource', ['api://other', database], undefined],
      ["the resource's app id (a v2 token)", '123cd850-d9df-40bd-94d5-c9f07b7fa203', undefined],
      ['a custom resource', 'api://my-proxy', 'api://my-proxy/.default'],
      [
        'an app id where the resource has none known here',
        '11111111-2222-3333-4444-555555555555',
        'api://my-proxy/.default',
      ],
      ['a custom resource given as a bare scope', 'https://db.example', 'https://db.example/'],
    ])('accepts %s', async (_, aud, scope) => {
      const clock = manualClock()
      const script = scriptedCredential(clock, { aud, upn: 'ada@contoso.com' })
      const auth = entraAuth({ credential: script.credential, clock, ...(scope ? { scope } : {}) })
      expect(typeof (await auth.password())).toBe('string')
      await auth.close()
    })

    it('lets through a token that is not a JWT, or has no aud (only the database can judge it)', async () => {
      const clock = manualClock()
      for (const token of ['opaque-token', fakeJwt({ upn: 'ada@contoso.com' })]) {
        const credential = { getToken: async () => ({ token, expiresOnTimestamp: clock.now() + HOUR }) }
        const auth = entraAuth({ credential, clock })
        expect(await auth.password()).toBe(token)
        await auth.close()
      }
    })
  })

  it('abandons a token request after requestTimeoutMs (ENTRA_UNREACHABLE) and validates the option', async () => {
    expect(thrown(() => entraAuth({ requestTimeoutMs: 0 })).details.option).toBe('requestTimeoutMs')
    const clock = manualClock()
    const script = scriptedCredential(clock)
    script.hold()
    const auth = entraAuth({ credential: script.credential, clock, requestTimeoutMs: 2_000 })
    const password = rejected(auth.password())
    await clock.advanceAsync(1_999)
    expect(script.calls).toHaveLength(1)
    expect(script.calls[0]!.options?.abortSignal?.aborted).toBe(false)
    await clock.advanceAsync(1)
    const error = await password
    expect(error.code).toBe('ENTRA_UNREACHABLE')
    expect(error.message).toContain('2000 ms')
    expect(script.calls[0]!.options?.abortSignal?.aborted).toBe(true)
    script.release()
    await auth.close()
  })
})
