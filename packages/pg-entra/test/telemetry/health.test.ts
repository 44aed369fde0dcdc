// auth.health() through an EntraAuth over a credential the test scripts, on a manual clock: ready before the first
// token, while a token is held, while Entra fails but the last token still serves; not ready once nothing is left.
import { afterEach, describe, expect, it } from 'vitest'
import { entraAuth } from '../../src/auth/entra-auth.js'
import type { EntraAuth } from '../../src/auth/types.js'
import { manualClock } from '../../src/shared/manual-clock.js'

const minute = 60_000
const hour = 60 * minute
const auths: EntraAuth[] = []
afterEach(async () => {
  await Promise.all(auths.splice(0).map((auth) => auth.close()))
})

function setup() {
  const clock = manualClock()
  let failing = false
  let calls = 0
  const credential = {
    async getToken() {
      calls++
      if (failing) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:443'), { code: 'ECONNREFUSED' })
      return { token: `health-token-${calls}`, expiresOnTimestamp: clock.now() + hour }
    },
  }
  const auth = entraAuth({ credential, clock, random: () => 0, telemetry: false })
  auths.push(auth)
  return {
    clock,
    auth,
    fail(on: boolean) {
      failing = on
    },
    get calls() {
      return calls
    },
  }
}

describe('auth.health()', () => {
  it('is ready before the first token, with nothing known yet', () => {
    const { auth } = setup()
    expect(auth.health()).toEqual({
      ready: true,
      tokenExpiresOn: undefined,
      tokenExpiresInMs: undefined,
      refreshAt: undefined,
      lastError: undefined,
      consecutiveFailures: 0,
    })
  })

  it('says how long the held token has left and when it refreshes', async () => {
    const { auth, clock } = setup()
    const token = await auth.token()
    const health = auth.health()
    expect(health).toMatchObject({
      ready: true,
      tokenExpiresOn: token.expiresOnTimestamp,
      tokenExpiresInMs: hour,
      lastError: undefined,
      consecutiveFailures: 0,
    })
    expect(health.refreshAt).toBe(token.expiresOnTimestamp - 5 * minute)
    clock.advance(10 * minute)
    expect(auth.health().tokenExpiresInMs).toBe(50 * minute)
  })

  it('stays ready while Entra fails and the last token serves, and is not ready once it is unusable', async () => {
    const setupResult = setup()
    const { auth, clock } = setupResult
    const token = await auth.token()
    setupResult.fail(true)
    await clock.advanceAsync(56 * minute)
    const failing = auth.health()
    expect(failing.ready).toBe(true)
    expect(failing.consecutiveFailures).toBeGreaterThanOrEqual(1)
    expect(failing.lastError).toMatchObject({ code: 'ENTRA_UNREACHABLE', at: expect.any(Number) })
    expect(failing.lastError?.message).not.toContain(token.token)

    await clock.advanceAsync(4 * minute)
    const expired = auth.health()
    expect(expired).toMatchObject({ ready: false, tokenExpiresInMs: 0 })
    await expect(auth.token()).rejects.toMatchObject({ code: 'ENTRA_UNREACHABLE' })
    expect(auth.health().ready).toBe(false)

    setupResult.fail(false)
    await clock.advanceAsync(5 * minute)
    const renewed = await auth.token()
    expect(renewed.token).not.toBe(token.token)
    expect(auth.health()).toMatchObject({
      ready: true,
      tokenExpiresOn: renewed.expiresOnTimestamp,
      tokenExpiresInMs: hour,
      consecutiveFailures: 0,
      lastError: { code: 'ENTRA_UNREACHABLE' },
    })
  })
})
