import { inspect } from 'node:util'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { EntraAuthEvent } from '../../src/auth/types.js'
import { isPgEntraError, PgEntraError } from '../../src/errors/pg-entra-error.js'
import type { AccessToken } from '../../src/shared/access-token.js'
import type { Clock } from '../../src/shared/clock.js'
import { flushPromises, type ManualClock, manualClock } from '../../src/shared/manual-clock.js'
import { createTokenSource, type TokenSource, type TokenSourceOptions } from '../../src/token/token-source.js'
import {
  deferred,
  issue,
  type ScriptedCredential,
  scriptedCredential,
  sequence,
  settled,
} from '../helpers/scripted-credential.js'

const second = 1_000
const minute = 60_000

let clock: ManualClock
let credential: ScriptedCredential
let events: EntraAuthEvent[]
let sources: TokenSource[]
let unhandled: unknown[]
const onUnhandled = (reason: unknown) => unhandled.push(reason)

beforeEach(() => {
  clock = manualClock()
  credential = scriptedCredential(clock)
  events = []
  sources = []
  unhandled = []
  process.on('unhandledRejection', onUnhandled)
})

afterEach(async () => {
  for (const source of sources) source.close()
  await new Promise((resolve) => setImmediate(resolve))
  process.off('unhandledRejection', onUnhandled)
  expect(unhandled).toEqual([])
})

function source(overrides: Partial<TokenSourceOptions> = {}): TokenSource {
  const created = createTokenSource({
    fetchToken: (signal) => credential.fetchToken(signal),
    clock,
    random: () => 0.5,
    refreshBeforeMs: 5 * minute,
    storeKey: 'test',
    onEvent: (event) => events.push(event),
    ...overrides,
  })
  sources.push(created)
  return created
}

function entraDown(retryAfterMs?: number): PgEntraError {
  return new PgEntraError('ENTRA_UNREACHABLE', 'the token endpoint answered 503', {
    hint: 'retry later',
    details: retryAfterMs === undefined ? {} : { retryAfterMs },
  })
}

const failures = () => events.filter((event) => event.type === 'refresh-failed')
const tokenEvents = () => events.filter((event) => event.type === 'token')

describe('single flight', () => {
  it('answers 1,000 concurrent get() with one request, then from the cache', async () => {
    const reply = deferred<AccessToken>()
    credential.behave(() => reply.promise)
    const tokens = source()
    const calls = Array.from({ length: 1_000 }, () => tokens.get())
    await flushPromises()
    expect(credential.calls).toBe(1)
    reply.resolve(issue(clock, 1, 60 * minute))
    const results = await Promise.all(calls)
    expect(new Set(results.map((result) => result.token))).toEqual(new Set(['token-1']))
    await Promise.all(Array.from({ length: 1_000 }, () => tokens.get()))
    expect(credential.calls).toBe(1)
    expect(tokens.stats()).toMatchObject({ requests: 1, waits: 1_000, hits: 1_000, failures: 0 })
  })

  it('shares one forced refresh between concurrent callers', async () => {
    const tokens = source()
    await tokens.get()
    const [a, b] = await Promise.all([tokens.refresh(), tokens.refresh()])
    expect(a.token).toBe('token-2')
    expect(b.token).toBe('token-2')
    expect(credential.calls).toBe(2)
  })
})

describe('refresh ahead', () => {
  it('refreshes inside its window, moved earlier by the jitter drawn from random, within its bounds', async () => {
    // refreshBefore 5 min on a 60 min token: due at 55 min; jitter in [0, 60 s).
    for (const random of [0, 0.25, 0.999_999]) {
      clock = manualClock()
      credential = scriptedCredential(clock)
      const fetchedAt = clock.now()
      const tokens = source({ random: () => random })
      await tokens.get()
      const expected = fetchedAt + 55 * minute - random * 60 * second
      expect(tokens.stats().nextRefresh).toBe(expected)
      await clock.advanceAsync(expected - clock.now() - 1)
      expect(credential.calls).toBe(1)
      await clock.advanceAsync(1)
      expect(credential.calls).toBe(2)
      const refreshedAt = credential.callTimes[1]!
      expect(refreshedAt).toBeGreaterThan(fetchedAt + 54 * minute)
      expect(refreshedAt).toBeLessThanOrEqual(fetchedAt + 55 * minute)
      expect((await tokens.get()).token).toBe('token-2')
      tokens.close()
    }
  })

  it("follows the credential's refreshAfterTimestamp", async () => {
    const fetchedAt = clock.now()
    credential.behave((call) =>
      issue(clock, call, 24 * 60 * minute, { refreshAfterTimestamp: clock.now() + 12 * 60 * minute }),
    )
    const tokens = source({ random: () => 0 })
    await tokens.get()
    expect(tokens.stats().nextRefresh).toBe(fetchedAt + 12 * 60 * minute)
    await clock.advanceAsync(12 * 60 * minute)
    expect(credential.callTimes).toEqual([fetchedAt, fetchedAt + 12 * 60 * minute])
  })

  it('refreshes 20 s tokens ahead, so that a caller every second never waits and never gets a token in its margin', async () => {
    credential = scriptedCredential(clock, 20 * second)
    const tokens = source({ random: sequence(0.3, 0.9, 0.1, 0.6) })
    await tokens.get()
    for (let elapsed = 0; elapsed < 90 * second; elapsed += second) {
      await clock.advanceAsync(second)
      const token = await tokens.get()
      expect(token.expiresOnTimestamp - clock.now()).toBeGreaterThanOrEqual(2 * second)
    }
    expect(tokens.stats().waits).toBe(1)
    // One request per ~8-10 s of a 20 s lifetime.
    expect(credential.calls).toBeGreaterThanOrEqual(9)
    expect(credential.calls).toBeLessThanOrEqual(12)
  })

  it('lets a caller in the refresh window start the refresh when timers starve, and still answer at once', async () => {
    const starved: Clock = { now: () => clock.now(), setTimer: () => ({ cancel() {} }) }
    const tokens = source({ clock: starved })
    await tokens.get()
    clock.advance(56 * minute)
    const answer = await settled(tokens.get())
    expect(answer).toEqual({ state: 'fulfilled', value: expect.objectContaining({ token: 'token-1' }) })
    expect(credential.calls).toBe(2)
    expect((await tokens.get()).token).toBe('token-2')
  })

  it('emits a token event with a fingerprint, never the token', async () => {
    const tokens = source()
    await tokens.get()
    expect(tokenEvents()).toHaveLength(1)
    const [event] = tokenEvents()
    expect(event).toMatchObject({
      type: 'token',
      source: 'credential',
      fingerprint: expect.stringMatching(/^[0-9a-f]{12}$/),
    })
    expect(JSON.stringify(events)).not.toContain('token-1')
  })
})

describe('a credential that says refresh now', () => {
  it('is asked again only after the minimum gap, not in a loop (refreshAfterTimestamp already due)', async () => {
    let calls = 0
    const tokens = source({
      fetchToken: async () => {
        calls++
        return { token: `t${calls}`, expiresOnTimestamp: clock.now() + 5_000, refreshAfterTimestamp: clock.now() }
      },
    })
    await tokens.get()
    await clock.advanceAsync(0)
    expect(calls).toBe(1) // without the gap: a new request at once, then another, for ever
    await clock.advanceAsync(5 * second)
    // one refresh per tenth of the 5 s lifetime at most
    expect(calls).toBeLessThanOrEqual(11)
  })
})

describe('a credential that hands back an aged token', () => {
  it('is not passed on with half a second left: the margin is at least 500 ms whatever the lifetime', async () => {
    // As a credential's cache does after an invalidation: the same token again, now 500 ms from its expiry (10% of
    // what is left would have been a 50 ms margin). Found by the invariant property test.
    const issued = { token: 'cached-token', expiresOnTimestamp: clock.now() + minute }
    const tokens = source({ fetchToken: async () => issued })
    expect((await tokens.get()).token).toBe('cached-token')
    tokens.invalidate('cached-token')
    await clock.advanceAsync(minute - 500)
    const error = await tokens.get().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(isPgEntraError(error) && error.code).toBe('TOKEN_UNAVAILABLE')
  })
})

describe('failures', () => {
  it('backs off exponentially with full jitter, capped', async () => {
    const tokens = source({ random: () => 0.999_999, backoff: { initialMs: 1_000, maxMs: 8_000 } })
    await tokens.get()
    credential.behave(() => Promise.reject(entraDown()))
    await clock.advanceAsync(56 * minute)
    await clock.advanceAsync(60 * second)
    const delays = failures().map((event) => (event.type === 'refresh-failed' ? event.retryAt : 0))
    const gaps = delays.map((retryAt, index) => retryAt - credential.callTimes[index + 1]!)
    expect(gaps.slice(0, 7)).toEqual([999, 1_999, 3_999, 7_999, 7_999, 7_999, 7_999])
    expect(
      failures()
        .map((event) => (event.type === 'refresh-failed' ? event.attempt : 0))
        .slice(0, 4),
    ).toEqual([1, 2, 3, 4])
    expect((await tokens.get()).token).toBe('token-1')
  })

  it('waits as long as the Retry-After the failure carries', async () => {
    const tokens = source({ random: () => 0 })
    await tokens.get()
    credential.behave(() => Promise.reject(entraDown(20_000)))
    await clock.advanceAsync(55 * minute)
    expect(credential.calls).toBe(2)
    const [first] = failures()
    expect(first?.type === 'refresh-failed' && first.retryAt - clock.now()).toBe(20_000)
    await clock.advanceAsync(19_999)
    expect(credential.calls).toBe(2)
    await clock.advanceAsync(1)
    expect(credential.calls).toBe(3)
  })

  it('serves the last good token through an outage, then fails promptly with the coded error', async () => {
    const tokens = source()
    const good = await tokens.get()
    credential.behave(() => Promise.reject(entraDown()))
    await clock.advanceAsync(good.expiresOnTimestamp - 30 * second - 1 - clock.now())
    expect(failures().length).toBeGreaterThan(5)
    expect((await tokens.get()).token).toBe('token-1')
    clock.advance(1)
    // Nothing usable is left: no hang, the last failure's error.
    const outcome = await settled(tokens.get())
    expect(outcome.state).toBe('rejected')
    const reason = outcome.state === 'rejected' ? outcome.reason : undefined
    expect(isPgEntraError(reason) && reason.code).toBe('ENTRA_UNREACHABLE')
    expect(isPgEntraError(reason) && reason.hint).toBeTruthy()
    expect(tokens.stats().lastError).toMatchObject({ code: 'ENTRA_UNREACHABLE' })
  })

  it('rejects waiting callers with the failure when there is no token at all', async () => {
    credential.behave(() =>
      Promise.reject(new PgEntraError('CREDENTIAL_REJECTED', 'AADSTS7000215: invalid client secret')),
    )
    const tokens = source()
    const results = await Promise.allSettled([tokens.get(), tokens.get(), tokens.get()])
    expect(results.map((result) => result.status === 'rejected' && result.reason.code)).toEqual([
      'CREDENTIAL_REJECTED',
      'CREDENTIAL_REJECTED',
      'CREDENTIAL_REJECTED',
    ])
    expect(credential.calls).toBe(1)
    // During the backoff a caller fails at once without another request.
    await expect(tokens.get()).rejects.toMatchObject({ code: 'CREDENTIAL_REJECTED' })
    expect(credential.calls).toBe(1)
  })

  it('classifies an unclassified credential error as TOKEN_UNAVAILABLE, summarised without any JWT in it', async () => {
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl'
    credential.behave(() => Promise.reject(new Error(`refused ${jwt}\nmore lines`)))
    const tokens = source()
    const error = await tokens.get().catch((caught: unknown) => caught)
    expect(error).toMatchObject({
      code: 'TOKEN_UNAVAILABLE',
      hint: expect.any(String),
      details: { reason: 'Error: refused [jwt]' },
    })
    expect(inspect(error, { depth: 10 })).not.toContain(jwt)
  })

  it('refuses a token that is already inside its safety margin', async () => {
    credential.behave((call) => issue(clock, call, -1 * second))
    const tokens = source()
    await expect(tokens.get()).rejects.toMatchObject({ code: 'TOKEN_UNAVAILABLE' })
  })

  it('aborts a hung request after requestTimeoutMs with ENTRA_UNREACHABLE', async () => {
    credential.behave(() => new Promise<AccessToken>(() => {}))
    const tokens = source({ requestTimeoutMs: 10 * second })
    const pending = tokens.get()
    await clock.advanceAsync(10 * second - 1)
    expect((await settled(pending)).state).toBe('pending')
    expect(credential.signals[0]?.aborted).toBe(false)
    await clock.advanceAsync(1)
    await expect(pending).rejects.toMatchObject({ code: 'ENTRA_UNREACHABLE' })
    expect(credential.signals[0]?.aborted).toBe(true)
  })

  it('recovers once the credential works again', async () => {
    credential.behave(() => Promise.reject(entraDown()))
    const tokens = source({ random: () => 0.5, backoff: { initialMs: 1_000, maxMs: 4_000 } })
    await expect(tokens.get()).rejects.toMatchObject({ code: 'ENTRA_UNREACHABLE' })
    await expect(tokens.get()).rejects.toMatchObject({ code: 'ENTRA_UNREACHABLE' })
    expect(credential.calls).toBe(1)
    credential.behave((call) => issue(clock, call, 60 * minute))
    await clock.advanceAsync(500)
    expect((await tokens.get()).token).toBe('token-2')
    expect(tokens.stats()).toMatchObject({ requests: 2, failures: 1 })
    expect(tokens.stats().nextRefresh).toBeGreaterThan(clock.now() + 50 * minute)
  })
})

describe('the aged token a credential hands back from its cache', () => {
  /** Like MSAL: answers from its cache until 5 min before expiry. */
  function msalLike(lifetimeMs: number) {
    let cached: AccessToken | undefined
    let issued = 0
    credential.behave(() => {
      if (!cached || clock.now() + 5 * minute > cached.expiresOnTimestamp) cached = issue(clock, ++issued, lifetimeMs)
      return cached
    })
  }

  it('does not count the same token as new, keeps serving it and asks again a little later', async () => {
    msalLike(60 * minute)
    const tokens = source({ random: () => 0.5 })
    await tokens.get()
    await clock.advanceAsync(54 * minute + 30 * second) // refresh due; the credential hands back token-1
    expect(credential.calls).toBe(2)
    expect(tokenEvents()).toHaveLength(1)
    expect((await tokens.get()).token).toBe('token-1')
    expect(tokens.stats().nextRefresh! - clock.now()).toBeLessThanOrEqual(30 * second)
    await clock.advanceAsync(60 * second)
    expect(tokenEvents()).toHaveLength(2)
    expect((await tokens.get()).token).toBe('token-2')
    expect(credential.calls).toBeLessThanOrEqual(4)
    // The new token is scheduled from its own expiry.
    expect(tokens.stats().nextRefresh).toBe(tokens.stats().expiresOn! - 5 * minute - 30 * second)
  })

  it("schedules an aged first token by its own expiry, not by a fresh token's lifetime", async () => {
    credential.behave((call) => issue(clock, call, 6 * minute))
    const tokens = source({ random: () => 0 })
    const token = await tokens.get()
    expect(tokens.stats().nextRefresh).toBe(token.expiresOnTimestamp - 3 * minute)
  })

  it('fails with TOKEN_UNAVAILABLE when the credential keeps returning a token past its margin', async () => {
    credential.behave(() => ({ token: 'stuck', expiresOnTimestamp: Date.UTC(2026, 0, 1) + 10 * minute }))
    const tokens = source()
    await tokens.get()
    clock.advance(10 * minute - 29 * second)
    await expect(tokens.get()).rejects.toMatchObject({ code: 'TOKEN_UNAVAILABLE' })
  })
})

describe('invalidate', () => {
  it('forgets the refused token only, so the next get() fetches a new one', async () => {
    const tokens = source()
    const first = await tokens.get()
    tokens.invalidate('some-other-token')
    expect((await tokens.get()).token).toBe(first.token)
    expect(credential.calls).toBe(1)
    tokens.invalidate(first.token)
    expect((await tokens.get()).token).toBe('token-2')
    expect(credential.calls).toBe(2)
  })
})

describe('close', () => {
  it('cancels every timer and rejects pending and later callers with CLOSED', async () => {
    const tokens = source({ requestTimeoutMs: 10 * second })
    await tokens.get()
    expect(clock.pending()).toBeGreaterThan(0)
    tokens.close()
    expect(clock.pending()).toBe(0)
    await expect(tokens.get()).rejects.toMatchObject({ code: 'CLOSED' })
    await expect(tokens.refresh()).rejects.toMatchObject({ code: 'CLOSED' })
  })

  it('aborts the request in flight and rejects its waiters', async () => {
    credential.behave(() => new Promise<AccessToken>(() => {}))
    const tokens = source()
    const pending = tokens.get()
    await flushPromises()
    expect(credential.signals).toHaveLength(1)
    expect(clock.pending()).toBeGreaterThan(0)
    tokens.close()
    await expect(pending).rejects.toMatchObject({ code: 'CLOSED' })
    expect(credential.signals[0]?.aborted).toBe(true)
    expect(clock.pending()).toBe(0)
  })

  it('leaves no timer after an outage with retries scheduled', async () => {
    const tokens = source()
    await tokens.get()
    credential.behave(() => Promise.reject(entraDown()))
    await clock.advanceAsync(56 * minute)
    expect(failures().length).toBeGreaterThan(0)
    tokens.close()
    expect(clock.pending()).toBe(0)
  })
})

describe('stats and events', () => {
  it('reports requests, hits, waits, failures, the last and next refresh, expiry and the last error', async () => {
    const tokens = source({ random: () => 0 })
    const first = await tokens.get()
    await tokens.get()
    expect(tokens.stats()).toEqual({
      requests: 1,
      hits: 1,
      waits: 1,
      failures: 0,
      lastRefresh: clock.now(),
      nextRefresh: first.expiresOnTimestamp - 5 * minute,
      expiresOn: first.expiresOnTimestamp,
      lastError: undefined,
    })
    credential.behave(() => Promise.reject(entraDown()))
    await clock.advanceAsync(55 * minute)
    expect(tokens.stats()).toMatchObject({
      requests: 2,
      failures: 1,
      lastError: { code: 'ENTRA_UNREACHABLE', message: 'the token endpoint answered 503', at: clock.now() },
    })
  })

  it('keeps delivering tokens when a listener throws', async () => {
    const tokens = source({
      onEvent: () => {
        throw new Error('listener bug')
      },
    })
    expect((await tokens.get()).token).toBe('token-1')
  })
})

describe('options', () => {
  it('refuses a malformed option with INVALID_OPTION naming it', () => {
    expect(() => source({ refreshBeforeMs: Number.NaN })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringContaining('refreshBeforeMs') }),
    )
    expect(() => source({ requestTimeoutMs: 0 })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringContaining('requestTimeoutMs') }),
    )
  })
})
