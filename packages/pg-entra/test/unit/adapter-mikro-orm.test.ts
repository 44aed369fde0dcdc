// MikroORM 6 hands a password function to Knex in its provider form: Knex asks again only when the returned
// expirationChecker says so, and throws if it still says so right after asking. These tests drive the checker with
// a manual clock, then real MikroORM (and Knex) against the emulator, next to the naive setup that goes stale.
import { describe, expect, it } from 'vitest'
import { mikroOrmPassword, passwordDeadline } from '../../src/adapters/mikro-orm.js'
import { createEntraAuth } from '../../src/auth/entra-auth.js'
import type { AccessToken } from '../../src/shared/access-token.js'
import { flushPromises, manualClock } from '../../src/shared/manual-clock.js'

describe('passwordDeadline', () => {
  it('asks again the margin before expiry when the token has plenty of life', () => {
    expect(passwordDeadline(3_600_000, 0, 60_000)).toBe(3_540_000)
  })

  it('never sooner than half the remaining life, so a fresh short token is not expired at once', () => {
    expect(passwordDeadline(10_000, 0, 60_000)).toBe(5_000)
    expect(passwordDeadline(100_000, 90_000, 60_000)).toBe(95_000)
  })

  it('a token handed out already expired is due at its expiry', () => {
    expect(passwordDeadline(1_000, 2_000, 60_000)).toBe(1_000)
  })
})

describe('mikroOrmPassword with a manual clock', () => {
  const minute = 60_000

  function setup(lifetimeMs: number, refreshBeforeMinutes = 5) {
    const clock = manualClock()
    let calls = 0
    const credential = {
      async getToken(): Promise<AccessToken> {
        calls++
        return { token: `token-${calls}`, expiresOnTimestamp: clock.now() + lifetimeMs }
      },
    }
    const auth = createEntraAuth({ credential, clock, random: () => 0, refreshBeforeMinutes }, { env: {} })
    return { clock, auth, password: mikroOrmPassword(auth, { clock }), calls: () => calls }
  }

  it('stays unexpired until pg-entra holds a newer token, then false again right after Knex asks', async () => {
    const { clock, auth, password, calls } = setup(60 * minute)
    const first = await password()
    expect(first.password).toBe('token-1')
    expect(first.expirationChecker()).toBe(false)

    clock.advance(54 * minute)
    expect(first.expirationChecker()).toBe(false)
    await clock.advanceAsync(1 * minute) // the background refresh at 55 min (5 min before expiry)
    await flushPromises()
    expect(calls()).toBe(2)
    expect(first.expirationChecker()).toBe(true)

    const second = await password()
    expect(second.password).toBe('token-2')
    expect(second.expirationChecker()).toBe(false) // Knex throws if this is still true
    await auth.close()
  })

  it('turns true at its deadline when no newer token exists; the same token handed out again reads unexpired', async () => {
    // refreshBeforeMinutes 0: pg-entra keeps serving the token until its safety margin, no refresh before
    const { clock, auth, password, calls } = setup(60 * minute, 0)
    const first = await password()
    clock.advance(59 * minute)
    expect(first.expirationChecker()).toBe(true)

    const second = await password()
    expect(calls()).toBe(1)
    expect(second.password).toBe(first.password)
    expect(second.expirationChecker()).toBe(false) // Knex throws if this is still true
    clock.advance(29_000)
    expect(second.expirationChecker()).toBe(false)
    clock.advance(1_000) // half its remaining minute
    expect(second.expirationChecker()).toBe(true)
    await auth.close()
  })

  it('a newer token counts only after a settling second (a refresh racing the provider call)', async () => {
    const { clock, auth, password } = setup(60 * minute)
    const first = await password()
    clock.advance(500)
    await auth.refresh()
    expect(first.expirationChecker()).toBe(false)
    clock.advance(499)
    expect(first.expirationChecker()).toBe(false)
    clock.advance(1)
    expect(first.expirationChecker()).toBe(true)
    await auth.close()
  })

  it('with 10 s tokens the checker flips at half-life and a fresh one never reads expired', async () => {
    const { clock, auth, password } = setup(10_000)
    const first = await password()
    expect(first.expirationChecker()).toBe(false)
    clock.set(clock.now() + 5_000)
    expect(first.expirationChecker()).toBe(true)
    const second = await password()
    expect(second.expirationChecker()).toBe(false)
    await auth.close()
  })
})
