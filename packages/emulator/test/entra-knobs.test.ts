// Knobs (lifetime, refresh_in, latency, injected failures), their scoping to one principal, counters and the
// redacted request log.
import { inspect } from 'node:util'
import { ClientSecretCredential } from '@azure/identity'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type Emulator, type Principal, startEmulator } from '../src/index.js'
import { credentialOptions, decodeJwt, secretTokenRequest } from './entra-fixtures.js'

let em: Emulator
let a: Principal
let b: Principal

beforeAll(async () => {
  em = await startEmulator({
    principals: [
      { kind: 'servicePrincipal', name: 'knob-a' },
      { kind: 'servicePrincipal', name: 'knob-b' },
    ],
  })
  a = em.principal('knob-a')
  b = em.principal('knob-b')
})
afterAll(() => em?.stop())
afterEach(() => em.knobs.reset())

const requestA = () => secretTokenRequest(em, a.appId!, a.secret!)
const requestB = () => secretTokenRequest(em, b.appId!, b.secret!)
const credentialFor = (p: Principal) =>
  new ClientSecretCredential(em.tenantId, p.appId!, p.secret!, credentialOptions(em))

describe('lifetime and refresh_in', () => {
  it('a per-principal lifetime shows in expires_in, the JWT and the credential, and leaves others alone', async () => {
    await em.knobs.set({ principals: { 'knob-a': { tokenLifetimeSeconds: 600 } } })
    const raw = (await requestA()).json()
    expect(raw.expires_in).toBe(600)
    const claims = decodeJwt(raw.access_token).claims
    expect(claims.exp - claims.iat).toBe(600)
    const token = await credentialFor(a).getToken(em.scope)
    const remaining = token.expiresOnTimestamp - Date.now()
    expect(remaining).toBeGreaterThan(590_000)
    expect(remaining).toBeLessThanOrEqual(601_000) // MSAL keeps whole seconds
    expect((await requestB()).json().expires_in).toBe(3599)
  })

  it('a global lifetime applies to every principal without an override', async () => {
    await em.knobs.set({ tokenLifetimeSeconds: 1200 })
    expect((await requestB()).json().expires_in).toBe(1200)
    expect(em.knobs.get().tokenLifetimeSeconds).toBe(1200)
    await em.knobs.reset()
    expect((await requestB()).json().expires_in).toBe(3599)
  })

  it('refresh_in reaches the credential as refreshAfterTimestamp', async () => {
    await em.knobs.set({ principals: { 'knob-a': { refreshInSeconds: 1800 } } })
    expect((await requestA()).json().refresh_in).toBe(1800)
    expect((await requestB()).json().refresh_in).toBeUndefined()
    const token = await credentialFor(a).getToken(em.scope)
    const refreshIn = (token.refreshAfterTimestamp ?? 0) - Date.now()
    expect(refreshIn).toBeGreaterThan(1_790_000)
    expect(refreshIn).toBeLessThanOrEqual(1_801_000)
  })

  it("a scoped reset drops only that principal's overrides and failures", async () => {
    await em.knobs.set({
      principals: { 'knob-a': { tokenLifetimeSeconds: 700 }, 'knob-b': { tokenLifetimeSeconds: 800 } },
    })
    await em.knobs.failNext({ mode: 500, principal: 'knob-a' })
    await em.knobs.failNext({ mode: 500, principal: 'knob-b' })
    await em.knobs.reset({ principal: 'knob-a' })
    expect((await requestA()).json().expires_in).toBe(3599)
    expect((await requestB()).status).toBe(500)
    expect((await requestB()).json().expires_in).toBe(800)
  })

  it('rejects nonsense knob values with a coded error', async () => {
    await expect(em.knobs.set({ tokenLifetimeSeconds: -1 })).rejects.toMatchObject({ code: 'INVALID_KNOB' })
    await expect(em.knobs.failNext({ mode: 418 as never })).rejects.toMatchObject({ code: 'INVALID_KNOB' })
  })
})

describe('failNext', () => {
  it('500, 503 and 429 with Retry-After, each consumed once, scoped to one principal', async () => {
    await em.knobs.failNext({ mode: 500, principal: 'knob-a' })
    await em.knobs.failNext({ mode: 503, principal: 'knob-a' })
    await em.knobs.failNext({ mode: 429, retryAfterSeconds: 7, principal: 'knob-a' })
    expect((await requestB()).status).toBe(200)
    expect((await requestA()).status).toBe(500)
    const unavailable = await requestA()
    expect(unavailable.status).toBe(503)
    expect(unavailable.json().error).toBe('temporarily_unavailable')
    const throttled = await requestA()
    expect(throttled.status).toBe(429)
    expect(throttled.headers['retry-after']).toBe('7')
    expect((await requestA()).status).toBe(200)
  })

  it('count makes several requests fail; an unscoped failure hits whoever asks next', async () => {
    await em.knobs.failNext({ mode: 500, count: 2 })
    expect((await requestB()).status).toBe(500)
    expect((await requestA()).status).toBe(500)
    expect((await requestA()).status).toBe(200)
  })

  it('a single 503 is retried by the credential and counted', async () => {
    const before = (await em.counters()).tokenRequests.byPrincipal['knob-b']!
    await em.knobs.failNext({ mode: 503, principal: 'knob-b' })
    const token = await credentialFor(b).getToken(em.scope)
    expect(token.token).toBeTruthy()
    const after = (await em.counters()).tokenRequests.byPrincipal['knob-b']!
    expect(after.requests - before.requests).toBe(2)
    expect(after.failuresInjected - before.failuresInjected).toBe(1)
    expect(after.issued.at(-1)?.tokenId).toBe(decodeJwt(token.token).claims.uti)
  })

  it('reset closes the connection', async () => {
    await em.knobs.failNext({ mode: 'reset', principal: 'knob-a' })
    await expect(requestA()).rejects.toThrow(/socket hang up|ECONNRESET/)
    expect((await requestA()).status).toBe(200)
  })

  it('malformed answers 200 with a body that is not JSON', async () => {
    await em.knobs.failNext({ mode: 'malformed', principal: 'knob-a' })
    const res = await requestA()
    expect(res.status).toBe(200)
    expect(() => res.json()).toThrow()
  })

  it('wrong-audience issues a token for another resource', async () => {
    await em.knobs.failNext({ mode: 'wrong-audience', principal: 'knob-a' })
    expect(decodeJwt((await requestA()).json().access_token).claims.aud).toBe('https://management.azure.com')
    expect(decodeJwt((await requestA()).json().access_token).claims.aud).toBe(em.resource)
  })

  it('hang leaves the request unanswered while others are served', async () => {
    await em.knobs.failNext({ mode: 'hang', principal: 'knob-a' })
    let settled = false
    const hung = requestA().then(
      () => (settled = true),
      () => (settled = true),
    )
    // wait until the emulator has taken the hanging request
    for (let i = 0; i < 100 && (await em.requestLog()).at(-1)?.injected !== 'hang'; i++) {
      await new Promise((r) => setTimeout(r, 20))
    }
    expect((await em.requestLog()).at(-1)?.injected).toBe('hang')
    expect((await requestA()).status).toBe(200)
    expect((await requestB()).status).toBe(200)
    expect(settled).toBe(false)
    void hung
  })
})

describe('latency', () => {
  it('is applied to the scoped principal only, and recorded', async () => {
    await em.knobs.set({ principals: { 'knob-a': { latencyMs: 150 } } })
    await requestA()
    await requestB()
    const log = await em.requestLog()
    expect(log.findLast((e) => e.principal === 'knob-a')?.latencyMs).toBe(150)
    expect(log.findLast((e) => e.principal === 'knob-b')?.latencyMs).toBeUndefined()
  })
})

describe('secrets stay out of logs and inspect output', () => {
  it('the request log redacts secrets and holds no token', async () => {
    const token = (await requestA()).json().access_token as string
    await secretTokenRequest(em, a.appId!, 'wrong-secret-value')
    const log = JSON.stringify(await em.requestLog())
    expect(log).not.toContain(a.secret!)
    expect(log).not.toContain('wrong-secret-value')
    expect(log).not.toContain(token)
    expect(log).toContain('[redacted sha256:')
    expect(JSON.stringify(await em.counters())).not.toContain(token)
  })

  it('principals and the emulator do not show secrets in inspect or JSON', () => {
    expect(a.secret).toMatch(/.{20,}/)
    expect(inspect(a)).not.toContain(a.secret!)
    expect(JSON.stringify(a)).not.toContain(a.secret!)
    expect(inspect(em, { depth: 5 })).not.toContain(a.secret!)
    expect(inspect(em, { depth: 5 })).not.toContain(em.pg.adminPassword)
    expect(em.pg.adminPassword).toMatch(/.{16,}/)
  })
})
