import { inspect } from 'node:util'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { EntraAuthEvent } from '../../src/auth/types.js'
import { memoryCache } from '../../src/cache/memory-cache.js'
import type { Lease, StoredToken, TokenStore } from '../../src/cache/token-store.js'
import type { AccessToken } from '../../src/shared/access-token.js'
import { flushPromises, type ManualClock, manualClock } from '../../src/shared/manual-clock.js'
import { createTokenSource, type TokenSource, type TokenSourceOptions } from '../../src/token/token-source.js'
import {
  deferred,
  issue,
  type ScriptedCredential,
  scriptedCredential,
  settled,
} from '../helpers/scripted-credential.js'

const second = 1_000
const minute = 60_000

/** A store shared by "processes" (token sources) in this test, with a lease like the Redis store's SET NX PX. */
function leasingStore(clock: ManualClock) {
  const tokens = new Map<string, StoredToken>()
  const leases = new Map<string, number>()
  const log: string[] = []
  const store: TokenStore = {
    kind: 'test',
    async get(key) {
      return tokens.get(key)
    },
    async set(token) {
      log.push(`set ${token.token}`)
      tokens.set(token.key, { ...token })
    },
    async acquireLease(key, ttlMs): Promise<Lease | undefined> {
      const heldUntil = leases.get(key)
      if (heldUntil !== undefined && heldUntil > clock.now()) return undefined
      leases.set(key, clock.now() + ttlMs)
      log.push('lease')
      return {
        async release() {
          log.push('release')
          leases.delete(key)
        },
      }
    },
  }
  return { store, tokens, leases, log }
}

let clock: ManualClock
let events: EntraAuthEvent[]
let sources: TokenSource[]

beforeEach(() => {
  clock = manualClock()
  events = []
  sources = []
})

afterEach(() => {
  for (const source of sources) source.close()
})

function source(credential: ScriptedCredential, overrides: Partial<TokenSourceOptions> = {}): TokenSource {
  const created = createTokenSource({
    fetchToken: (signal) => credential.fetchToken(signal),
    clock,
    random: () => 0.5,
    refreshBeforeMs: 5 * minute,
    storeKey: 'tenant/client/scope',
    onEvent: (event) => events.push(event),
    ...overrides,
  })
  sources.push(created)
  return created
}

const warnings = () => events.flatMap((event) => (event.type === 'warning' ? [event.error] : []))

describe('a shared store', () => {
  it("takes another process's token from the store instead of fetching", async () => {
    const { store } = leasingStore(clock)
    const first = scriptedCredential(clock)
    const second_ = scriptedCredential(clock)
    const a = source(first, { store })
    const b = source(second_, { store })
    const fromA = await a.get()
    await flushPromises()
    const fromB = await b.get()
    expect(fromB.token).toBe(fromA.token)
    expect(first.calls + second_.calls).toBe(1)
    expect(
      events.filter((event) => event.type === 'token').map((event) => event.type === 'token' && event.source),
    ).toEqual(['credential', 'cache'])
  })

  it('ignores a stored token for another key, a malformed one, and one too close to expiry', async () => {
    const { store, tokens } = leasingStore(clock)
    const credential = scriptedCredential(clock)
    const tokenSource = source(credential, { store })
    tokens.set('tenant/client/scope', {
      key: 'someone/else',
      token: 'foreign',
      expiresOnTimestamp: clock.now() + 60 * minute,
      fetchedAt: clock.now(),
    })
    expect((await tokenSource.get()).token).toBe('token-1')
    tokenSource.invalidate('token-1')
    tokens.set('tenant/client/scope', {
      key: 'tenant/client/scope',
      token: 'dying',
      expiresOnTimestamp: clock.now() + 10 * second,
      fetchedAt: clock.now() - 60 * minute,
    })
    expect((await tokenSource.get()).token).toBe('token-2')
    tokenSource.invalidate('token-2')
    tokens.set('tenant/client/scope', { key: 'tenant/client/scope', token: 42 } as unknown as StoredToken)
    expect((await tokenSource.get()).token).toBe('token-3')
  })

  it('does not take back from the store a token the database refused', async () => {
    const { store } = leasingStore(clock)
    const credential = scriptedCredential(clock)
    const tokenSource = source(credential, { store })
    const refused = await tokenSource.get()
    await flushPromises()
    tokenSource.invalidate(refused.token)
    expect((await tokenSource.get()).token).toBe('token-2')
  })

  it('lets only the lease holder fetch while the others keep serving the current token', async () => {
    const { store, log } = leasingStore(clock)
    const holderCredential = scriptedCredential(clock)
    const otherCredential = scriptedCredential(clock)
    // The holder draws more jitter, so its refresh timer fires first.
    const holder = source(holderCredential, { store, random: () => 0.9, requestTimeoutMs: 2 * minute })
    const other = source(otherCredential, { store, random: () => 0.1 })
    await holder.get()
    await flushPromises()
    await other.get()
    expect(otherCredential.calls).toBe(0)

    const slowReply = deferred<AccessToken>()
    holderCredential.behave(() => slowReply.promise)
    otherCredential.behave(() => Promise.reject(new Error('the other process must not fetch')))
    await clock.advanceAsync(55 * minute + 30 * second)
    expect(holderCredential.calls).toBe(2)
    expect(log).toContain('lease')
    // The other process is past its refresh time, lost the lease and still answers at once with the current token.
    expect(await settled(other.get())).toEqual({
      state: 'fulfilled',
      value: expect.objectContaining({ token: 'token-1' }),
    })

    slowReply.resolve(issue(clock, 2, 60 * minute))
    await clock.advanceAsync(second)
    expect((await other.get()).token).toBe('token-2')
    expect(otherCredential.calls).toBe(0)
    expect(log.slice(-2)).toEqual(['set token-2', 'release'])
  })

  it('makes a caller with no token wait while the lease is held, at most as long as a lease lives, then fetch itself', async () => {
    const { store, leases } = leasingStore(clock)
    leases.set('tenant/client/scope', clock.now() + 60 * minute) // a holder that never writes
    const credential = scriptedCredential(clock)
    // A lease lives requestTimeoutMs + 2 storeTimeoutMs: how long a holder may legitimately take.
    const tokenSource = source(credential, {
      store,
      leaseWaitMs: 3 * second,
      leasePollMs: 500,
      requestTimeoutMs: 10 * second,
      storeTimeoutMs: second,
    })
    const pending = tokenSource.get()
    await clock.advanceAsync(12 * second - 1) // past leaseWaitMs: the lease is still held, so it waits on
    expect(credential.calls).toBe(0)
    expect((await settled(pending)).state).toBe('pending')
    await clock.advanceAsync(500)
    expect((await pending).token).toBe('token-1')
    expect(credential.calls).toBe(1)
  })

  it('takes the lease and fetches as soon as a slow holder lets go without a token', async () => {
    const { store, leases } = leasingStore(clock)
    leases.set('tenant/client/scope', clock.now() + 60 * minute)
    const credential = scriptedCredential(clock)
    const tokenSource = source(credential, { store, leaseWaitMs: 3 * second, leasePollMs: 500 })
    const pending = tokenSource.get()
    await clock.advanceAsync(5 * second)
    expect(credential.calls).toBe(0) // still held after leaseWaitMs: no second request to Entra
    leases.delete('tenant/client/scope') // the holder's request failed; it let go
    await clock.advanceAsync(500)
    expect((await pending).token).toBe('token-1')
    expect(credential.calls).toBe(1)
    expect(leases.has('tenant/client/scope')).toBe(false) // and it let go of the lease it took, once done
  })

  it("a waiter takes the holder's token as soon as it appears in the store", async () => {
    const { store, leases, tokens } = leasingStore(clock)
    leases.set('tenant/client/scope', clock.now() + 60 * minute)
    const credential = scriptedCredential(clock)
    const tokenSource = source(credential, { store, leaseWaitMs: 5 * second, leasePollMs: 500 })
    const pending = tokenSource.get()
    await clock.advanceAsync(second)
    tokens.set('tenant/client/scope', {
      key: 'tenant/client/scope',
      token: 'from-the-holder',
      expiresOnTimestamp: clock.now() + 60 * minute,
      fetchedAt: clock.now(),
    })
    await clock.advanceAsync(500)
    expect((await pending).token).toBe('from-the-holder')
    expect(credential.calls).toBe(0)
  })
})

describe('a failing store', () => {
  it('only warns with CACHE_ERROR: get(), set() and the lease failing never fail get()', async () => {
    const broken: TokenStore = {
      kind: 'broken',
      get: () => Promise.reject(new Error('ECONNREFUSED 127.0.0.1:6379')),
      set: () => Promise.reject(new Error('ECONNREFUSED 127.0.0.1:6379')),
      acquireLease: () => {
        throw new Error('ECONNREFUSED 127.0.0.1:6379')
      },
    }
    const credential = scriptedCredential(clock)
    const tokenSource = source(credential, { store: broken })
    expect((await tokenSource.get()).token).toBe('token-1')
    await flushPromises()
    expect(warnings().map((error) => [error.code, error.details.action])).toEqual([
      ['CACHE_ERROR', 'read'],
      ['CACHE_ERROR', 'acquire the refresh lease'],
      ['CACHE_ERROR', 'write'],
    ])
    expect(warnings()[0]?.details.reason).toBe('Error: ECONNREFUSED 127.0.0.1:6379')
    expect(warnings().every((error) => error.hint && !inspect(error).includes('token-1'))).toBe(true)
  })

  it('treats a store that does not answer as a miss after storeTimeoutMs', async () => {
    const hung: TokenStore = { kind: 'hung', get: () => new Promise(() => {}), set: () => new Promise(() => {}) }
    const credential = scriptedCredential(clock)
    const tokenSource = source(credential, { store: hung, storeTimeoutMs: 2 * second })
    const pending = tokenSource.get()
    await clock.advanceAsync(2 * second - 1)
    expect(credential.calls).toBe(0)
    await clock.advanceAsync(1)
    expect((await pending).token).toBe('token-1')
    await clock.advanceAsync(2 * second)
    expect(warnings().map((error) => error.details.action)).toEqual(['read', 'write'])
    tokenSource.close()
    expect(clock.pending()).toBe(0)
  })
})

describe('memoryCache', () => {
  it('keeps the last token per key', async () => {
    const store = memoryCache()
    expect(store.kind).toBe('memory')
    expect(await store.get('k')).toBeUndefined()
    await store.set({ key: 'k', token: 'a', expiresOnTimestamp: 1, fetchedAt: 0 })
    await store.set({ key: 'k', token: 'b', expiresOnTimestamp: 2, fetchedAt: 1 })
    expect(await store.get('k')).toMatchObject({ token: 'b', expiresOnTimestamp: 2 })
    expect(store.acquireLease).toBeUndefined()
  })
})

describe('checkStored: a stored token is checked before it is used', () => {
  const KEY = 'tenant/client/scope'
  const planted = (token: string): StoredToken => ({
    key: KEY,
    token,
    expiresOnTimestamp: clock.now() + 50 * minute,
    fetchedAt: clock.now(),
  })

  it('refuses what the check refuses: one CACHE_ERROR warning naming the reason (not the token), then its own fetch', async () => {
    const shared = leasingStore(clock)
    shared.tokens.set(KEY, planted('someone-elses-token'))
    const seen: { token: string; now: number; storeKind: string }[] = []
    const credential = scriptedCredential(clock)
    const tokens = source(credential, {
      store: shared.store,
      checkStored: (stored, { now, storeKind }) => {
        seen.push({ token: stored.token, now, storeKind })
        return stored.token === 'someone-elses-token' ? 'its client is not ours' : undefined
      },
    })
    expect((await tokens.get()).token).toBe('token-1')
    expect(credential.calls).toBe(1)
    expect(seen[0]).toEqual({ token: 'someone-elses-token', now: clock.now(), storeKind: 'test' })
    const refused = warnings().filter((error) => error.details.action === 'check')
    expect(refused).toHaveLength(1)
    expect(refused[0]).toMatchObject({
      code: 'CACHE_ERROR',
      details: { store: 'test', reason: 'its client is not ours' },
    })
    expect(refused[0]?.message).toContain('its client is not ours')
    expect(inspect(refused[0])).not.toContain('someone-elses-token')
    expect(events.some((event) => event.type === 'token' && event.source === 'cache')).toBe(false)

    // The same refused entry, read again on the next refresh, is skipped without another warning.
    shared.tokens.set(KEY, planted('someone-elses-token'))
    tokens.invalidate('token-1')
    expect((await tokens.get()).token).toBe('token-2')
    expect(warnings().filter((error) => error.details.action === 'check')).toHaveLength(1)
  })

  it('removes the refused entry from a store that can, so that its own token takes the place', async () => {
    const store = memoryCache()
    // Planted to outlive the tokens this source fetches: a store keeping the longer-lived entry would keep it.
    await store.set({ ...planted('someone-elses-token'), expiresOnTimestamp: clock.now() + 23 * 60 * minute })
    const credential = scriptedCredential(clock)
    const tokens = source(credential, {
      store,
      checkStored: (stored) => (stored.token === 'someone-elses-token' ? 'not ours' : undefined),
    })
    expect((await tokens.get()).token).toBe('token-1')
    await flushPromises()
    expect((await store.get(KEY))?.token).toBe('token-1')
  })

  it('uses what the check accepts, without a request', async () => {
    const shared = leasingStore(clock)
    shared.tokens.set(KEY, planted('a-good-token'))
    const credential = scriptedCredential(clock)
    const tokens = source(credential, { store: shared.store, checkStored: () => undefined })
    expect((await tokens.get()).token).toBe('a-good-token')
    expect(credential.calls).toBe(0)
    expect(warnings()).toEqual([])
  })

  it('treats a check that throws as a refusal', async () => {
    const shared = leasingStore(clock)
    shared.tokens.set(KEY, planted('a-token'))
    const credential = scriptedCredential(clock)
    const tokens = source(credential, {
      store: shared.store,
      checkStored: () => {
        throw new Error('bug')
      },
    })
    expect((await tokens.get()).token).toBe('token-1')
    expect(warnings()[0]?.details.reason).toBe('it could not be checked')
  })
})
