// OpenTelemetry around the token source's failures and the shared store's lease, driven by a scripted credential and
// a manual clock (timeouts, a holder that never answers), read back through the real SDK's in-memory exporters.
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { Lease, StoredToken, TokenStore } from '../../src/cache/token-store.js'
import { type ManualClock, manualClock } from '../../src/shared/manual-clock.js'
import { loadOpenTelemetry } from '../../src/telemetry/otel-api.js'
import { createTelemetry, type TelemetryOption } from '../../src/telemetry/telemetry.js'
import { createTokenSource, type TokenSource, type TokenSourceOptions } from '../../src/token/token-source.js'
import { deferred, issue, type ScriptedCredential, scriptedCredential } from '../helpers/scripted-credential.js'
import { type OtelCapture, otelCapture, pointsWith } from './_otel.js'

const second = 1_000
const minute = 60_000
const KEY = 'tenant/client/scope'
const identity = { 'pg_entra.identity.kind': 'clientSecret', 'pg_entra.tenant.id': 'tenant-a' }

/** A store shared by "processes" (token sources) in this test, with a lease like the Redis store's SET NX PX. */
function leasingStore(clock: ManualClock) {
  const tokens = new Map<string, StoredToken>()
  const leases = new Map<string, number>()
  const store: TokenStore = {
    kind: 'test',
    get: async (key) => tokens.get(key),
    set: async (token) => {
      tokens.set(token.key, { ...token })
    },
    async acquireLease(key, ttlMs): Promise<Lease | undefined> {
      const heldUntil = leases.get(key)
      if (heldUntil !== undefined && heldUntil > clock.now()) return undefined
      leases.set(key, clock.now() + ttlMs)
      return { release: async () => void leases.delete(key) }
    },
  }
  return { store, tokens, leases }
}

let clock: ManualClock
let sources: TokenSource[]
let captures: OtelCapture[]

// Importing @opentelemetry/api is real I/O, which a manual clock cannot wait for: import it before the clock runs.
beforeAll(async () => {
  expect(await loadOpenTelemetry()).toBeDefined()
})
beforeEach(() => {
  clock = manualClock()
  sources = []
  captures = []
})
afterEach(async () => {
  for (const source of sources) source.close()
  await Promise.all(captures.map((capture) => capture.shutdown()))
})

function capture(): OtelCapture {
  const made = otelCapture()
  captures.push(made)
  return made
}

function source(
  credential: ScriptedCredential,
  telemetry: TelemetryOption,
  overrides: Partial<TokenSourceOptions> = {},
): TokenSource {
  const storeKind = overrides.store?.kind ?? 'memory'
  const { instrumentation } = createTelemetry(telemetry, {
    identityKind: 'clientSecret',
    tenantId: 'tenant-a',
    store: storeKind,
  })
  const created = createTokenSource({
    fetchToken: (signal) => credential.fetchToken(signal),
    clock,
    random: () => 0.5,
    refreshBeforeMs: 5 * minute,
    storeKey: KEY,
    instrumentation,
    ...overrides,
  })
  sources.push(created)
  return created
}

const providers = (otel: OtelCapture) => ({ meterProvider: otel.meterProvider, tracerProvider: otel.tracerProvider })

describe('token requests', () => {
  it('records a timed-out request as ENTRA_UNREACHABLE, then the successful retry, and health follows', async () => {
    const otel = capture()
    const credential = scriptedCredential(clock)
    credential.behave(() => new Promise(() => {}))
    const tokens = source(credential, providers(otel), { requestTimeoutMs: 10 * second })
    const first = tokens.get()
    const outcome = expect(first).rejects.toMatchObject({ code: 'ENTRA_UNREACHABLE' })
    await clock.advanceAsync(10 * second)
    await outcome
    expect(tokens.health()).toMatchObject({
      ready: false,
      tokenExpiresOn: undefined,
      consecutiveFailures: 1,
      lastError: { code: 'ENTRA_UNREACHABLE', at: clock.now() },
    })

    credential.behave((call) => issue(clock, call, 60 * minute))
    await clock.advanceAsync(minute)
    const token = await tokens.get()
    expect(tokens.health()).toMatchObject({
      ready: true,
      tokenExpiresOn: token.expiresOnTimestamp,
      tokenExpiresInMs: 60 * minute,
      consecutiveFailures: 0,
    })

    const duration = await otel.metric('pg_entra.token.request.duration')
    expect(pointsWith(duration, { 'error.type': 'ENTRA_UNREACHABLE' })).toHaveLength(1)
    expect(duration?.points.filter((point) => !('error.type' in point.attributes))).toEqual([
      { attributes: identity, value: 1, sum: expect.any(Number) },
    ])
    const spans = otel.spans().filter((span) => span.name === 'pg_entra.token.request')
    expect(spans.map((span) => [span.status.code, span.attributes['error.type']])).toEqual([
      [2, 'ENTRA_UNREACHABLE'],
      [0, undefined],
    ])
    expect(spans[0]!.status.message).toContain('did not complete within')
    expect(await otel.exportedText()).not.toContain(token.token)
  })

  it('names an unclassified credential failure by its type only, never its message', async () => {
    const otel = capture()
    const credential = scriptedCredential(clock)
    credential.behave(() => {
      throw new TypeError('upstream said: secret=hunter2')
    })
    const tokens = source(credential, providers(otel))
    await expect(tokens.get()).rejects.toMatchObject({ code: 'TOKEN_UNAVAILABLE' })
    const [span] = otel.spans().filter((each) => each.name === 'pg_entra.token.request')
    expect(span?.attributes['error.type']).toBe('TypeError')
    expect(span?.status).toEqual({ code: 2, message: 'TypeError' })
    expect(await otel.exportedText()).not.toContain('hunter2')
  })

  it('keeps delivering tokens when the providers themselves throw', async () => {
    const credential = scriptedCredential(clock)
    const broken = {
      meterProvider: {
        getMeter: () => {
          throw new Error('meter provider is broken')
        },
      },
      tracerProvider: {
        getTracer: () => {
          throw new Error('tracer provider is broken')
        },
      },
    }
    const tokens = source(credential, broken)
    expect((await tokens.get()).token).toBe('token-1')
  })
})

describe('the shared store', () => {
  it('counts the lease: acquired by the refresher, held elsewhere then adopted by the other process', async () => {
    const { store } = leasingStore(clock)
    const holderOtel = capture()
    const waiterOtel = capture()
    const holderCredential = scriptedCredential(clock)
    const answer = deferred<ReturnType<typeof issue>>()
    holderCredential.behave(() => answer.promise)
    const waiterCredential = scriptedCredential(clock)
    const options = { store, leaseWaitMs: 5 * second, leasePollMs: 500 }
    const holder = source(holderCredential, providers(holderOtel), options)
    const waiter = source(waiterCredential, providers(waiterOtel), options)

    const held = holder.get()
    await clock.advanceAsync(0)
    const waited = waiter.get()
    await clock.advanceAsync(100)
    answer.resolve(issue(clock, 1, 60 * minute))
    expect((await held).token).toBe('token-1')
    await clock.advanceAsync(500)
    expect((await waited).token).toBe('token-1')
    expect(waiterCredential.calls).toBe(0)

    const inStore = { ...identity, 'pg_entra.cache.store': 'test' }
    const outcomes = async (otel: OtelCapture) =>
      (await otel.metric('pg_entra.lease.outcomes'))?.points.map((point) => [
        point.attributes['pg_entra.lease.outcome'],
        point.value,
      ])
    expect(await outcomes(holderOtel)).toEqual([['acquired', 1]])
    expect(await outcomes(waiterOtel)).toEqual([
      ['held_elsewhere', 1],
      ['adopted', 1],
    ])
    const lookups = await waiterOtel.metric('pg_entra.cache.lookups')
    expect(pointsWith(lookups, { ...inStore, 'pg_entra.cache.result': 'hit' })).toEqual([
      { attributes: { ...inStore, 'pg_entra.cache.result': 'hit' }, value: 1 },
    ])
    expect(pointsWith(lookups, { 'pg_entra.cache.result': 'miss' })[0]?.value).toBeGreaterThanOrEqual(1)
    expect(holderOtel.spans().map((span) => span.name)).toEqual(
      expect.arrayContaining([
        'pg_entra.cache.get',
        'pg_entra.cache.lease.acquire',
        'pg_entra.token.request',
        'pg_entra.cache.set',
        'pg_entra.cache.lease.release',
      ]),
    )
    for (const otel of [holderOtel, waiterOtel]) expect(await otel.exportedText()).not.toContain('token-1')
  })

  it('counts a wait that timed out when the lease holder never stores a token', async () => {
    const { store, leases } = leasingStore(clock)
    leases.set(KEY, clock.now() + 60 * minute)
    const otel = capture()
    const credential = scriptedCredential(clock)
    const tokens = source(credential, providers(otel), {
      store,
      leaseWaitMs: 2 * second,
      leasePollMs: 500,
      requestTimeoutMs: 4 * second,
      storeTimeoutMs: second,
    })
    const pending = tokens.get()
    await clock.advanceAsync(6 * second) // the lease, held all along, lives requestTimeoutMs + 2 storeTimeoutMs
    expect((await pending).token).toBe('token-1')
    const points = (await otel.metric('pg_entra.lease.outcomes'))?.points ?? []
    expect(points.map((point) => [point.attributes['pg_entra.lease.outcome'], point.value])).toEqual([
      ['held_elsewhere', 1],
      ['wait_timed_out', 1],
    ])
  })

  it('records a failing store as lookup errors and failed spans, and its lease as failed', async () => {
    const otel = capture()
    const broken: TokenStore = {
      kind: 'broken',
      get: () => Promise.reject(new Error('ECONNREFUSED 127.0.0.1:6379')),
      set: () => Promise.reject(new Error('ECONNREFUSED 127.0.0.1:6379')),
      acquireLease: () => Promise.reject(new Error('ECONNREFUSED 127.0.0.1:6379')),
    }
    const credential = scriptedCredential(clock)
    const tokens = source(credential, providers(otel), { store: broken })
    expect((await tokens.get()).token).toBe('token-1')
    await clock.advanceAsync(0)

    const inStore = { ...identity, 'pg_entra.cache.store': 'broken' }
    expect((await otel.metric('pg_entra.cache.lookups'))?.points).toEqual([
      { attributes: { ...inStore, 'pg_entra.cache.result': 'error' }, value: 1 },
    ])
    expect((await otel.metric('pg_entra.lease.outcomes'))?.points).toEqual([
      { attributes: { ...inStore, 'pg_entra.lease.outcome': 'failed' }, value: 1 },
    ])
    const failed = otel.spans().filter((span) => span.name.startsWith('pg_entra.cache.'))
    expect(failed.map((span) => [span.name, span.status.code, span.attributes['error.type']])).toEqual([
      ['pg_entra.cache.get', 2, 'Error'],
      ['pg_entra.cache.lease.acquire', 2, 'Error'],
      ['pg_entra.cache.set', 2, 'Error'],
    ])
  })
})
