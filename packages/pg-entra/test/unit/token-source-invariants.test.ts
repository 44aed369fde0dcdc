import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isPgEntraError, PgEntraError } from '../../src/errors/pg-entra-error.js'
import type { AccessToken } from '../../src/shared/access-token.js'
import { manualClock } from '../../src/shared/manual-clock.js'
import { createTokenSource } from '../../src/token/token-source.js'

const second = 1_000
const minute = 60_000
const requestTimeoutMs = 10 * second

type Outcome =
  | { kind: 'token'; lifetimeMs: number; refreshAfterMs: number | undefined }
  | { kind: 'same' }
  | { kind: 'fail'; retryAfterMs: number | undefined }
  | { kind: 'hang' }
  | { kind: 'slow'; delayMs: number; lifetimeMs: number }

const outcome: fc.Arbitrary<Outcome> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('token' as const),
      lifetimeMs: fc.integer({ min: 5 * second, max: 2 * 60 * minute }),
      refreshAfterMs: fc.option(fc.integer({ min: 0, max: 60 * minute }), { nil: undefined }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'same' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('fail' as const),
      retryAfterMs: fc.option(fc.integer({ min: 1, max: 120 * second }), { nil: undefined }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'hang' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('slow' as const),
      delayMs: fc.integer({ min: 1, max: 20 * second }),
      lifetimeMs: fc.integer({ min: 5 * second, max: 60 * minute }),
    }),
  },
)

const step = fc.record({
  advanceMs: fc.integer({ min: 0, max: 3 * minute }),
  gets: fc.integer({ min: 0, max: 3 }),
  invalidate: fc.boolean(),
})

describe('token source invariants under a random script', () => {
  it('never hands out a token inside its safety margin, and settles every call within the request timeout', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(outcome, { minLength: 1, maxLength: 12 }),
        fc.array(step, { minLength: 1, maxLength: 40 }),
        fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: 1, maxLength: 8 }),
        async (outcomes, steps, randoms) => {
          const clock = manualClock()
          let call = 0
          let lastIssued: AccessToken | undefined
          const issue = (lifetimeMs: number, refreshAfterMs?: number): AccessToken => {
            lastIssued = {
              token: `token-${call}`,
              expiresOnTimestamp: clock.now() + lifetimeMs,
              ...(refreshAfterMs === undefined ? {} : { refreshAfterTimestamp: clock.now() + refreshAfterMs }),
            }
            return lastIssued
          }
          let randomIndex = 0
          const tokens = createTokenSource({
            clock,
            random: () => randoms[randomIndex++ % randoms.length]!,
            refreshBeforeMs: 5 * minute,
            requestTimeoutMs,
            storeKey: 'k',
            fetchToken: (signal) => {
              const next = outcomes[call++ % outcomes.length]!
              switch (next.kind) {
                case 'token':
                  return Promise.resolve(issue(next.lifetimeMs, next.refreshAfterMs))
                case 'same':
                  return Promise.resolve(lastIssued ?? issue(minute))
                case 'fail':
                  return Promise.reject(
                    new PgEntraError('ENTRA_UNREACHABLE', 'scripted failure', {
                      details: next.retryAfterMs === undefined ? {} : { retryAfterMs: next.retryAfterMs },
                    }),
                  )
                case 'hang':
                  return new Promise<AccessToken>(() => {})
                case 'slow':
                  // Like a real request, it stops when aborted (its timer is the test's, not the source's).
                  return new Promise<AccessToken>((resolve, reject) => {
                    const timer = clock.setTimer(next.delayMs, () => resolve(issue(next.lifetimeMs)))
                    signal.addEventListener('abort', () => {
                      timer.cancel()
                      reject(signal.reason)
                    })
                  })
              }
            },
          })

          const calls: { at: number; settledAt?: number; leftMs?: number; error?: unknown }[] = []
          for (const { advanceMs, gets, invalidate } of steps) {
            for (let i = 0; i < gets; i++) {
              const record: (typeof calls)[number] = { at: clock.now() }
              calls.push(record)
              tokens.get().then(
                (token) => {
                  record.settledAt = clock.now()
                  record.leftMs = token.expiresOnTimestamp - clock.now()
                  if (invalidate) tokens.invalidate(token.token)
                },
                (error: unknown) => {
                  record.settledAt = clock.now()
                  record.error = error
                },
              )
            }
            await clock.advanceAsync(advanceMs)
            for (const record of calls) {
              if (clock.now() - record.at > requestTimeoutMs) expect(record.settledAt).toBeDefined()
              if (record.error !== undefined) expect(isPgEntraError(record.error)).toBe(true)
              // Handed out only while usable: more than its safety margin (>= 500 ms for the 5 s minimum) left.
              if (record.leftMs !== undefined) expect(record.leftMs).toBeGreaterThan(500)
            }
          }
          tokens.close()
          await new Promise((resolve) => setImmediate(resolve))
          expect(clock.pending()).toBe(0)
          expect(calls.every((record) => record.settledAt !== undefined)).toBe(true)
        },
      ),
      { numRuns: 150 },
    )
  })
})
