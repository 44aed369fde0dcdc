// OpenTelemetry from a real EntraAuth against the emulator (a real @azure/identity credential, a real token
// endpoint), read back through the real SDK's in-memory exporters.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { metrics, trace } from '@opentelemetry/api'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { uniqueName, useEmulator } from '../../../../tools/test/emulator.js'
import { createPool } from '../../src/adapters/pg.js'
import { entraAuth } from '../../src/auth/entra-auth.js'
import type { EntraAuth, EntraAuthOptions } from '../../src/auth/types.js'
import { fileCache } from '../../src/cache/file-cache.js'
import { loadOpenTelemetry } from '../../src/telemetry/otel-api.js'
import { type OtelCapture, otelCapture, pointsWith } from './_otel.js'

type Emulator = Awaited<ReturnType<typeof useEmulator>>
type Principal = Awaited<ReturnType<Emulator['addPrincipal']>>
const LIFETIME_SECONDS = 600

let emulator: Emulator
let root: string
const captures: OtelCapture[] = []
const auths: EntraAuth[] = []

beforeAll(async () => {
  // Loaded up front so that every request here runs inside an active span (otel-first-request.test.ts covers a
  // request that completes before the API has loaded).
  await loadOpenTelemetry()
  emulator = await useEmulator()
  root = mkdtempSync(join(tmpdir(), 'pg-entra-otel-'))
})
afterEach(async () => {
  await Promise.all(auths.splice(0).map((auth) => auth.close()))
  await Promise.all(captures.splice(0).map((capture) => capture.shutdown()))
})
afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true })
})

async function principal(prefix: string): Promise<Principal> {
  const sp = await emulator.addPrincipal({ kind: 'servicePrincipal', name: uniqueName(prefix) })
  await emulator.knobs.set({ principals: { [sp.name]: { tokenLifetimeSeconds: LIFETIME_SECONDS } } })
  return sp
}

function capture(): OtelCapture {
  const made = otelCapture()
  captures.push(made)
  return made
}

function authFor(sp: Principal, extra: Partial<EntraAuthOptions> = {}): EntraAuth {
  const auth = entraAuth({
    tenantId: emulator.tenantId,
    clientId: sp.appId!,
    clientSecret: sp.secret!,
    authorityHost: emulator.authorityHost,
    authorityCa: emulator.ca,
    ...extra,
  })
  auths.push(auth)
  return auth
}

const identity = () => ({ 'pg_entra.identity.kind': 'clientSecret', 'pg_entra.tenant.id': emulator.tenantId })

async function requestsOf(name: string): Promise<number> {
  return (await emulator.counters()).tokenRequests.byPrincipal[name]?.requests ?? 0
}

describe('OpenTelemetry through the real SDK, against the emulator', () => {
  it('records a span and a duration for the token request, the store calls and the time to expiry', async () => {
    const sp = await principal('otel-request')
    const otel = capture()
    const auth = authFor(sp, {
      telemetry: { meterProvider: otel.meterProvider, tracerProvider: otel.tracerProvider },
    })
    const token = await auth.token()
    await auth.token()
    expect(await requestsOf(sp.name)).toBe(1)

    const requests = otel.spans().filter((span) => span.name === 'pg_entra.token.request')
    expect(requests).toHaveLength(1)
    expect(requests[0]!.attributes).toEqual(identity())
    expect(requests[0]!.status.code).not.toBe(2)
    const reads = otel.spans().filter((span) => span.name === 'pg_entra.cache.get')
    expect(reads.map((span) => span.attributes)).toEqual([
      { ...identity(), 'pg_entra.cache.store': 'memory', 'pg_entra.cache.result': 'miss' },
    ])
    await expect.poll(() => otel.spans().some((span) => span.name === 'pg_entra.cache.set')).toBe(true)

    const duration = await otel.metric('pg_entra.token.request.duration')
    expect(duration?.unit).toBe('s')
    expect(duration?.points).toEqual([{ attributes: identity(), value: 1, sum: expect.any(Number) }])
    expect(duration!.points[0]!.sum).toBeGreaterThan(0)

    const expiry = await otel.metric('pg_entra.token.time_to_expiry')
    expect(expiry?.unit).toBe('s')
    expect(expiry?.points).toHaveLength(1)
    const left = expiry!.points[0]!.value
    expect(left).toBeGreaterThan(0)
    expect(left).toBeLessThanOrEqual((token.expiresOnTimestamp - Date.now()) / 1000 + 1)

    const lookups = await otel.metric('pg_entra.cache.lookups')
    expect(lookups?.points).toEqual([
      {
        attributes: { ...identity(), 'pg_entra.cache.store': 'memory', 'pg_entra.cache.result': 'miss' },
        value: 1,
      },
    ])

    const text = await otel.exportedText()
    expect(text).not.toContain(token.token)
    expect(text).not.toContain(sp.secret!)
    expect(text).not.toMatch(/eyJ[\w-]+\./)
  })

  it('counts a shared-store hit, and the lease, when a second process adopts the token from a file store', async () => {
    const sp = await principal('otel-file')
    const dir = join(root, sp.name)
    const first = capture()
    const second = capture()
    const one = authFor(sp, {
      cache: fileCache({ dir }),
      telemetry: { meterProvider: first.meterProvider, tracerProvider: first.tracerProvider },
    })
    const token = await one.token()
    await expect.poll(() => first.spans().some((span) => span.name === 'pg_entra.cache.set')).toBe(true)
    const two = authFor(sp, {
      cache: fileCache({ dir }),
      telemetry: { meterProvider: second.meterProvider, tracerProvider: second.tracerProvider },
    })
    expect((await two.token()).token).toBe(token.token)
    expect(await requestsOf(sp.name)).toBe(1)

    const file = { ...identity(), 'pg_entra.cache.store': 'file' }
    expect(pointsWith(await first.metric('pg_entra.lease.outcomes'), file)).toEqual([
      { attributes: { ...file, 'pg_entra.lease.outcome': 'acquired' }, value: 1 },
    ])
    expect(pointsWith(await second.metric('pg_entra.cache.lookups'), file)).toEqual([
      { attributes: { ...file, 'pg_entra.cache.result': 'hit' }, value: 1 },
    ])
    expect(second.spans().filter((span) => span.name === 'pg_entra.token.request')).toEqual([])
    expect(await second.metric('pg_entra.token.request.duration')).toBeUndefined()
    for (const otel of [first, second]) {
      const text = await otel.exportedText()
      expect(text).not.toContain(token.token)
      expect(text).not.toContain(sp.secret!)
    }
  })

  it('records a refused credential as error.type CREDENTIAL_REJECTED, without the secret', async () => {
    const sp = await principal('otel-rejected')
    const otel = capture()
    const wrongSecret = `wrong-${sp.secret!}`
    const auth = authFor(sp, {
      clientSecret: wrongSecret,
      telemetry: { meterProvider: otel.meterProvider, tracerProvider: otel.tracerProvider },
    })
    await expect(auth.token()).rejects.toMatchObject({ code: 'CREDENTIAL_REJECTED' })

    const failed = { ...identity(), 'error.type': 'CREDENTIAL_REJECTED' }
    expect((await otel.metric('pg_entra.token.request.duration'))?.points).toEqual([
      { attributes: failed, value: 1, sum: expect.any(Number) },
    ])
    const [span] = otel.spans().filter((each) => each.name === 'pg_entra.token.request')
    expect(span?.attributes).toEqual(failed)
    expect(span?.status.code).toBe(2)
    expect(await otel.metric('pg_entra.token.time_to_expiry')).toBeUndefined()
    const text = await otel.exportedText()
    expect(text).not.toContain(wrongSecret)
    expect(text).not.toContain(sp.secret!)
  })

  it('uses the globally registered providers by default, and nothing with telemetry: false', async () => {
    const sp = await principal('otel-global')
    const otel = capture()
    expect(metrics.setGlobalMeterProvider(otel.meterProvider)).toBe(true)
    expect(trace.setGlobalTracerProvider(otel.tracerProvider)).toBe(true)
    try {
      const off = authFor(sp, { telemetry: false })
      await off.token()
      expect(otel.spans()).toEqual([])
      expect(await otel.metrics()).toEqual([])

      const auto = authFor(sp)
      await auto.token()
      expect(otel.spans().filter((span) => span.name === 'pg_entra.token.request')).toHaveLength(1)
      expect((await otel.metric('pg_entra.token.request.duration'))?.points).toHaveLength(1)
    } finally {
      metrics.disable()
      trace.disable()
    }
  })

  it('counts refused and retried logins, as the password function and the pool see them', async () => {
    // No role is mapped to this principal: the pool's login is refused, retried once with a fresh token, refused again.
    const sp = await emulator.addPrincipal({ kind: 'servicePrincipal', name: uniqueName('otel-login'), role: false })
    const otel = capture()
    const auth = authFor(sp, {
      telemetry: { meterProvider: otel.meterProvider, tracerProvider: otel.tracerProvider },
    })
    const pool = createPool({
      host: emulator.pg.host,
      port: emulator.pg.port,
      database: emulator.pg.database,
      user: sp.name,
      ssl: { ca: emulator.ca },
      entra: auth,
      max: 1,
    })
    try {
      await expect(pool.query('select 1')).rejects.toMatchObject({ code: 'TOKEN_REFUSED' })
    } finally {
      await pool.end()
    }
    const refused = await otel.metric('pg_entra.login.refused')
    expect(refused?.points).toEqual([{ attributes: { ...identity(), 'db.response.status_code': '28P01' }, value: 2 }])
    expect((await otel.metric('pg_entra.login.retried'))?.points).toEqual([
      { attributes: { ...identity(), 'db.response.status_code': '28P01' }, value: 1 },
    ])
  })
})
