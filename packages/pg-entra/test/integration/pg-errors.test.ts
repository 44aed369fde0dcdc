import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import { uniqueName, useEmulator } from '../../../../tools/test/emulator.js'
import { createPool } from '../../src/adapters/pg.js'
import { entraAuth } from '../../src/auth/entra-auth.js'
import type { EntraAuthOptions } from '../../src/auth/types.js'
import { isPgEntraError, type PgEntraError } from '../../src/errors/pg-entra-error.js'
import { hideAzureIdentity, runPgChild } from './_pg-child.js'
import { type Emu, emulatorAuthority, emulatorPg, recordingLogger } from './_pg-helpers.js'

async function pgEntraFailure(promise: Promise<unknown>): Promise<PgEntraError> {
  try {
    await promise
  } catch (error) {
    if (isPgEntraError(error)) return error
    throw error
  }
  throw new Error('expected a PgEntraError')
}

async function servicePrincipal(emu: Emu, prefix: string) {
  const sp = await emu.addPrincipal({ kind: 'servicePrincipal', name: uniqueName(prefix) })
  const entra: EntraAuthOptions = {
    tenantId: sp.tenantId,
    clientId: sp.appId,
    clientSecret: sp.secret,
    ...emulatorAuthority(emu),
  }
  return { sp, entra }
}

describe('every error code, produced for real against the emulator', () => {
  it.each([
    [
      'a wrong secret',
      (o: EntraAuthOptions) => ({ ...o, clientSecret: 'Wrong~Secret.Value_1234' }),
      'AADSTS7000215',
      'secret',
    ],
    [
      'an unknown client id',
      (o: EntraAuthOptions) => ({ ...o, clientId: '00000000-0000-0000-0000-000000000001' }),
      'AADSTS700016',
      'clientId',
    ],
  ])('CREDENTIAL_REJECTED for %s, with what the AADSTS code means', async (_what, change, aadsts, hintWord) => {
    const emu = await useEmulator()
    const { sp, entra } = await servicePrincipal(emu, 'rejected')
    const pool = createPool({ ...emulatorPg(emu), user: sp.roleName, entra: change(entra) })
    try {
      const error = await pgEntraFailure(pool.query('select 1'))
      expect(error.code).toBe('CREDENTIAL_REJECTED')
      expect(error.message).toContain(aadsts)
      expect(error.details.aadsts).toBe(aadsts)
      expect(error.hint).toContain(hintWord)
      expect(`${error.message} ${error.hint} ${inspect(error)}`).not.toContain('Wrong~Secret')
    } finally {
      await pool.end()
    }
  })

  it('ENTRA_UNREACHABLE for an unknown tenant (it has no OpenID metadata), the hint naming tenantId', async () => {
    const emu = await useEmulator()
    const { entra } = await servicePrincipal(emu, 'tenant')
    const auth = entraAuth({ ...entra, tenantId: '00000000-0000-0000-0000-000000000002' })
    try {
      const error = await pgEntraFailure(auth.password())
      expect(error.code).toBe('ENTRA_UNREACHABLE')
      expect(error.message).toContain('tenant 00000000-0000-0000-0000-000000000002')
      expect(error.hint).toContain('tenantId')
    } finally {
      await auth.close()
    }
  })

  it.each([
    [503, undefined, /503|unavailable/i],
    [429, 7, /throttl/i],
  ] as const)(
    'ENTRA_UNREACHABLE when Entra answers %s, after at most one retry, with Retry-After when given',
    async (mode, retryAfterSeconds, text) => {
      const emu = await useEmulator()
      const { sp, entra } = await servicePrincipal(emu, `down-${mode}`)
      await emu.knobs.failNext({
        mode,
        count: 5,
        principal: sp.name,
        ...(retryAfterSeconds ? { retryAfterSeconds } : {}),
      })
      const auth = entraAuth(entra)
      try {
        const error = await pgEntraFailure(auth.password())
        expect(error.code).toBe('ENTRA_UNREACHABLE')
        expect(error.message).toMatch(text)
        expect(error.hint).toMatch(/retries|shared cache/)
        if (retryAfterSeconds) expect(error.details.retryAfterMs).toBe(retryAfterSeconds * 1000)
        // @azure/identity's own pipeline retried once at most: the caller was not kept waiting through five failures
        expect((await emu.counters()).tokenRequests.byPrincipal[sp.name]?.failuresInjected).toBeLessThanOrEqual(2)
      } finally {
        await auth.close()
      }
    },
  )

  it("ENTRA_UNREACHABLE with the CA hint when the authority's certificate is not trusted", async () => {
    const emu = await useEmulator()
    const { entra } = await servicePrincipal(emu, 'untrusted')
    const auth = entraAuth({ ...entra, authorityCa: undefined })
    try {
      const error = await pgEntraFailure(auth.password())
      expect(error.code).toBe('ENTRA_UNREACHABLE')
      expect(error.message).toContain(emu.authorityHost)
      expect(error.hint).toContain('authorityCa')
      expect(error.hint).toContain('NODE_EXTRA_CA_CERTS')
    } finally {
      await auth.close()
    }
  })

  it('CREDENTIAL_UNAVAILABLE when the workload identity token file is missing', async () => {
    const emu = await useEmulator()
    const { sp } = await servicePrincipal(emu, 'no-file')
    const auth = entraAuth({
      tenantId: sp.tenantId,
      clientId: sp.appId,
      federatedTokenFile: '/nonexistent/pg-entra/token',
      ...emulatorAuthority(emu),
    })
    try {
      const error = await pgEntraFailure(auth.password())
      expect(error.code).toBe('CREDENTIAL_UNAVAILABLE')
      expect(error.message).toContain('/nonexistent/pg-entra/token')
      expect(error.hint).toContain('federatedTokenFile')
    } finally {
      await auth.close()
    }
  })

  it('MISSING_DEPENDENCY with the install command when @azure/identity is not installed (child process)', async () => {
    const emu = await useEmulator()
    const { sp, entra } = await servicePrincipal(emu, 'no-dep')
    const result = await runPgChild(
      {},
      { entra: { ...entra, authorityCa: emu.ca }, pg: { ...emulatorPg(emu), user: sp.roleName } },
      hideAzureIdentity,
    )
    expect(result.output).toMatchObject({
      ok: false,
      code: 'MISSING_DEPENDENCY',
      hint: expect.stringContaining('npm install @azure/identity'),
    })
    expect(result.exitCode).toBe(0)
  })

  it('TOKEN_UNAVAILABLE when a given credential returns no token', async () => {
    const emu = await useEmulator()
    const pool = createPool({
      ...emulatorPg(emu),
      user: 'nobody',
      entra: { credential: { getToken: async () => null } },
    })
    try {
      const error = await pgEntraFailure(pool.query('select 1'))
      expect(error.code).toBe('TOKEN_UNAVAILABLE')
      expect(error.message).toContain('returned no token')
    } finally {
      await pool.end()
    }
  })

  it('USER_NOT_DERIVABLE for a service principal without a user, listing the claims', async () => {
    const emu = await useEmulator()
    const { sp, entra } = await servicePrincipal(emu, 'no-user')
    const pool = createPool({ ...emulatorPg(emu), entra })
    try {
      const error = await pgEntraFailure(pool.query('select 1'))
      expect(error.code).toBe('USER_NOT_DERIVABLE')
      expect(error.message).toContain(`appid=${sp.appId}`)
      expect(error.hint).toContain('PGUSER')
      expect(error.hint).toContain(sp.objectId)
    } finally {
      await pool.end()
    }
  })

  it('INVALID_OPTION at once, and CLOSED after close()', async () => {
    const emu = await useEmulator()
    let invalid: unknown
    try {
      createPool({
        ...emulatorPg(emu),
        entra: { tenantId: 't', clientId: 'c', clientSecrett: 'x' } as EntraAuthOptions,
      })
    } catch (error) {
      invalid = error
    }
    expect(isPgEntraError(invalid) && invalid.code).toBe('INVALID_OPTION')
    expect(isPgEntraError(invalid) && invalid.hint).toContain('clientSecret')
    const { sp, entra } = await servicePrincipal(emu, 'closed')
    const auth = entraAuth(entra)
    const pool = createPool({ ...emulatorPg(emu), user: sp.roleName, entra: auth })
    try {
      const idle = await pool.connect() // connected before close(): stays usable
      await auth.close()
      const error = await pgEntraFailure(pool.connect()) // a new connection needs a token
      expect(error.code).toBe('CLOSED')
      expect((await idle.query('select 1 as one')).rows[0].one).toBe(1)
      idle.release()
    } finally {
      await pool.end()
    }
  })
})

describe('redaction', () => {
  it('no token or secret in any log line, error message or inspected object, through failures', async () => {
    const emu = await useEmulator()
    const { sp, entra } = await servicePrincipal(emu, 'redact')
    const { lines, logger } = recordingLogger()
    const seen: string[] = []
    const auth = entraAuth({ ...entra, logger })
    const pool = createPool({ ...emulatorPg(emu), user: sp.roleName, entra: auth })
    const printed: string[] = []
    try {
      await pool.query('select 1')
      seen.push((await auth.token()).token)
      await emu.knobs.failNext({ mode: 503, count: 3, principal: sp.name })
      await auth.refresh().catch((error: unknown) => printed.push(inspect(error, { depth: 10 }), String(error)))
      await emu.knobs.failNext({ mode: 'malformed', count: 3, principal: sp.name })
      await auth.refresh().catch((error: unknown) => printed.push(inspect(error, { depth: 10 }), String(error)))
      seen.push((await auth.refresh()).token)
      printed.push(inspect(auth, { depth: 10, showHidden: true }), JSON.stringify(auth), inspect(pool, { depth: 6 }))
      printed.push(JSON.stringify(await emu.requestLog()))
    } finally {
      await pool.end()
      await auth.close()
    }
    const wrong = entraAuth({ ...entra, clientSecret: `${sp.secret}-but-wrong`, logger })
    await wrong.password().catch((error: unknown) => printed.push(inspect(error, { depth: 10 }), String(error)))
    await wrong.close()
    const everything = [...lines, ...printed].join('\n')
    expect(lines.length).toBeGreaterThan(0)
    expect(everything).toContain('pg-entra: token acquired')
    for (const secret of [sp.secret!, ...seen]) expect(everything).not.toContain(secret)
  })
})
