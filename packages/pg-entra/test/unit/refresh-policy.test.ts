import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  BACKOFF_FLOOR_MS,
  backoffCeilingMs,
  backoffDelayMs,
  isUsable,
  JITTER_MAX_MS,
  jitterBoundMs,
  minimumRefreshGapMs,
  RETRY_AFTER_MAX_MS,
  refreshAt,
  refreshDueAt,
  retryAfterMsOf,
  SAME_TOKEN_RETRY_MAX_MS,
  SAME_TOKEN_RETRY_MIN_MS,
  safetyMarginMs,
  sameTokenRetryDelayMs,
  usableUntil,
} from '../../src/token/refresh-policy.js'

const minute = 60_000
const t0 = Date.UTC(2026, 0, 1)

describe('refreshDueAt', () => {
  it('is refreshBeforeMs before expiry for a long token', () => {
    expect(refreshDueAt({ fetchedAt: t0, expiresOnTimestamp: t0 + 60 * minute }, 5 * minute)).toBe(t0 + 55 * minute)
  })

  it("takes the credential's refreshAfterTimestamp when it is earlier", () => {
    const timing = {
      fetchedAt: t0,
      expiresOnTimestamp: t0 + 24 * 60 * minute,
      refreshAfterTimestamp: t0 + 12 * 60 * minute,
    }
    expect(refreshDueAt(timing, 5 * minute)).toBe(t0 + 12 * 60 * minute)
  })

  it('never lets refreshAfterTimestamp push the refresh past refreshBeforeMs before expiry', () => {
    const timing = { fetchedAt: t0, expiresOnTimestamp: t0 + 60 * minute, refreshAfterTimestamp: t0 + 59 * minute }
    expect(refreshDueAt(timing, 5 * minute)).toBe(t0 + 55 * minute)
  })

  it('refreshes a token shorter than refreshBeforeMs at half of its life, not at once', () => {
    expect(refreshDueAt({ fetchedAt: t0, expiresOnTimestamp: t0 + 20_000 }, 5 * minute)).toBe(t0 + 10_000)
    expect(refreshDueAt({ fetchedAt: t0, expiresOnTimestamp: t0 + 10_000 }, 5 * minute)).toBe(t0 + 5_000)
  })

  it("measures an aged token's life from its own expiry, not from a fresh lifetime", () => {
    // A credential's cached token with 6 min left: due with half of that left, 3 min after the fetch.
    expect(refreshDueAt({ fetchedAt: t0, expiresOnTimestamp: t0 + 6 * minute }, 5 * minute)).toBe(t0 + 3 * minute)
  })

  it('starts while the token is still usable even with refreshBeforeMs 0 (twice the safety margin ahead)', () => {
    expect(refreshDueAt({ fetchedAt: t0, expiresOnTimestamp: t0 + 60 * minute }, 0)).toBe(t0 + 59 * minute)
  })

  it('is never before the fetch', () => {
    const timing = { fetchedAt: t0, expiresOnTimestamp: t0 + 60 * minute, refreshAfterTimestamp: t0 - minute }
    expect(refreshDueAt(timing, 5 * minute)).toBe(t0)
    expect(refreshDueAt({ fetchedAt: t0, expiresOnTimestamp: t0 - 1 }, 5 * minute)).toBe(t0)
  })
})

describe('refreshAt and its jitter', () => {
  it('moves the refresh earlier by the jitter, up to min(60 s, 20% of fetch-to-due)', () => {
    const long = { fetchedAt: t0, expiresOnTimestamp: t0 + 60 * minute }
    expect(jitterBoundMs(long, 5 * minute)).toBe(JITTER_MAX_MS)
    expect(refreshAt(long, 5 * minute, 0)).toBe(t0 + 55 * minute)
    expect(refreshAt(long, 5 * minute, 30_000)).toBe(t0 + 55 * minute - 30_000)
    expect(refreshAt(long, 5 * minute, 10 * minute)).toBe(t0 + 54 * minute)
    expect(refreshAt(long, 5 * minute, -5)).toBe(t0 + 55 * minute)
    const short = { fetchedAt: t0, expiresOnTimestamp: t0 + 20_000 }
    expect(jitterBoundMs(short, 5 * minute)).toBe(2_000)
    expect(refreshAt(short, 5 * minute, 5_000)).toBe(t0 + 8_000)
  })

  it('never comes sooner than the minimum gap after the fetch, even when the credential says refresh now', () => {
    // refresh_in 0 (or an aged cached token): without the gap the source would ask again at once, for ever
    const fiveSeconds = { fetchedAt: t0, expiresOnTimestamp: t0 + 5_000, refreshAfterTimestamp: t0 }
    expect(refreshAt(fiveSeconds, 5 * minute, 0)).toBe(t0 + 500)
    const anHour = { fetchedAt: t0, expiresOnTimestamp: t0 + 60 * minute, refreshAfterTimestamp: t0 - minute }
    expect(refreshAt(anHour, 5 * minute, 0)).toBe(t0 + 30_000)
  })

  it('lands inside [due - bound, due] (or at the minimum gap), after the fetch and before the token stops being usable', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2_000, max: 48 * 60 * minute }),
        fc.option(fc.integer({ min: -minute, max: 48 * 60 * minute }), { nil: undefined }),
        fc.integer({ min: 0, max: 60 * minute }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (lifetime, refreshAfter, before, random) => {
          const timing = {
            fetchedAt: t0,
            expiresOnTimestamp: t0 + lifetime,
            refreshAfterTimestamp: refreshAfter === undefined ? undefined : t0 + refreshAfter,
          }
          const due = refreshDueAt(timing, before)
          const bound = jitterBoundMs(timing, before)
          const at = refreshAt(timing, before, random * bound)
          const earliest = t0 + minimumRefreshGapMs(timing)
          expect(at).toBeLessThanOrEqual(Math.max(due, earliest))
          expect(at).toBeGreaterThanOrEqual(Math.max(due - bound, earliest))
          expect(at).toBeLessThan(usableUntil(timing))
        },
      ),
    )
  })
})

describe('usable tokens', () => {
  it('keeps a margin of min(30 s, 10% of the lifetime), at least 500 ms, before expiry', () => {
    const long = { fetchedAt: t0, expiresOnTimestamp: t0 + 60 * minute }
    expect(safetyMarginMs(long)).toBe(30_000)
    expect(isUsable(long, t0 + 60 * minute - 30_001)).toBe(true)
    expect(isUsable(long, t0 + 60 * minute - 30_000)).toBe(false)
    const short = { fetchedAt: t0, expiresOnTimestamp: t0 + 20_000 }
    expect(safetyMarginMs(short)).toBe(2_000)
    expect(isUsable(short, t0 + 17_999)).toBe(true)
    expect(isUsable(short, t0 + 18_000)).toBe(false)
    expect(isUsable({ fetchedAt: t0, expiresOnTimestamp: t0 - 1 }, t0)).toBe(false)
    // An aged token from a credential's cache: 10% of what is left would be a few milliseconds.
    const aged = { fetchedAt: t0, expiresOnTimestamp: t0 + 500 }
    expect(safetyMarginMs(aged)).toBe(500)
    expect(isUsable(aged, t0)).toBe(false)
    expect(isUsable({ fetchedAt: t0, expiresOnTimestamp: t0 + 2_000 }, t0 + 1_499)).toBe(true)
    expect(isUsable({ fetchedAt: t0, expiresOnTimestamp: t0 + 2_000 }, t0 + 1_500)).toBe(false)
  })
})

describe('backoff', () => {
  const backoff = { initialMs: 500, maxMs: 30_000 }

  it('grows exponentially and is capped', () => {
    const ceilings = [1, 2, 3, 4, 5, 6, 7, 8, 20, 2000].map((attempt) => backoffCeilingMs(attempt, backoff))
    expect(ceilings).toEqual([500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000, 30_000])
  })

  it('draws the delay with full jitter below the ceiling, above a small floor', () => {
    expect(backoffDelayMs(4, backoff, 0)).toBe(BACKOFF_FLOOR_MS)
    expect(backoffDelayMs(1, { initialMs: 10, maxMs: 100 }, 0)).toBe(10)
    expect(backoffDelayMs(4, backoff, 0.5)).toBe(2_000)
    expect(backoffDelayMs(4, backoff, 0.999_999)).toBe(3_999)
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, random) => {
          const delay = backoffDelayMs(attempt, backoff, random)
          expect(delay).toBeGreaterThanOrEqual(BACKOFF_FLOOR_MS)
          expect(delay).toBeLessThan(backoffCeilingMs(attempt, backoff))
        },
      ),
    )
  })

  it('waits at least as long as a Retry-After, itself capped', () => {
    expect(backoffDelayMs(1, backoff, 0, 20_000)).toBe(20_000)
    expect(backoffDelayMs(7, backoff, 0.999_999, 1_000)).toBe(29_999)
    expect(backoffDelayMs(1, backoff, 0, 24 * 60 * minute)).toBe(RETRY_AFTER_MAX_MS)
  })

  it("reads Retry-After from an error's details.retryAfterMs", () => {
    expect(retryAfterMsOf({ details: { retryAfterMs: 7_000 } })).toBe(7_000)
    expect(retryAfterMsOf({ details: { retryAfterMs: '7000' } })).toBeUndefined()
    expect(retryAfterMsOf({ details: {} })).toBeUndefined()
    expect(retryAfterMsOf(new Error('no details'))).toBeUndefined()
    expect(retryAfterMsOf(undefined)).toBeUndefined()
  })
})

describe('sameTokenRetryDelayMs', () => {
  it('asks again after a tenth of the usable life left, between 1 s and 30 s', () => {
    const long = { fetchedAt: t0, expiresOnTimestamp: t0 + 60 * minute }
    expect(sameTokenRetryDelayMs(long, t0 + 50 * minute)).toBe(SAME_TOKEN_RETRY_MAX_MS)
    expect(sameTokenRetryDelayMs(long, t0 + 59 * minute)).toBe(3_000)
    expect(sameTokenRetryDelayMs(long, t0 + 60 * minute)).toBe(SAME_TOKEN_RETRY_MIN_MS)
  })
})
