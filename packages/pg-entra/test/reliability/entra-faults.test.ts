// Entra failing under a pg-entra pool, every fault the emulator can inject, each on its own principal:
// - while a valid token is cached, faults on its refresh cost no connect;
// - once no valid token is left, connects fail with a coded error within a bound (no hang, no unhandled
//   rejection), and the pool recovers by itself once Entra answers again.
import { afterAll, beforeAll, describe, it } from 'vitest'
import { shortLivedPrincipal, uniqueName, useEmulator } from '../../../../tools/test/emulator.js'
import type { FailureMode } from '../../../emulator/src/index.js'
import { createPool } from '../../src/adapters/pg.js'
import { entraAuth } from '../../src/auth/entra-auth.js'
import { isPgEntraError } from '../../src/errors/pg-entra-error.js'
import {
  describeError,
  type Emu,
  eventually,
  frontOf,
  type Outcome,
  type Principal,
  recordUnhandledRejections,
  seenBy,
  sleep,
  spOptions,
  takeFirstToken,
  within,
} from './_reliability.js'

const MODES: FailureMode[] = [500, 503, 429, 'hang', 'reset', 'malformed', 'wrong-audience']

const unhandled = recordUnhandledRejections()
beforeAll(() => unhandled.install())
afterAll(() => unhandled.uninstall())

/** A pool that opens a new connection for every query (maxUses: 1), recording its idle-client errors. */
function connectingPool(emu: Emu, user: string, auth: ReturnType<typeof entraAuth>) {
  const pool = createPool({ ...frontOf(emu), user, entra: auth, max: 2, maxUses: 1 })
  const errors: string[] = []
  pool.on('error', (error) => errors.push(describeError(error)))
  return { pool, errors }
}

/**
 * Faults in a row on the refresh of a cached, valid token. Tokens live 30 s (refreshed from about 12 s, usable until
 * 27 s): a 15 s window for retries, far more than three faults need with pg-entra's backoff (Retry-After 1 s). A hung
 * request is given up after HANG_TIMEOUT_MS (the requestTimeoutMs option), so that mode has two faults: two hangs and
 * their backoff take at most 2 * 3 s + 1.5 s.
 *
 * Measured (@azure/identity 4.13.1, msal-node 5.6.0 bundling msal-common 16.13.0): after one 5xx or 429 answer, a
 * client credential replays that error for 60 s without asking Entra (MSAL's throttle cache reads `Retry-After` with
 * its exact case, misses the lower-cased header and falls back to 60 s). pg-entra drops such a credential and builds
 * a fresh one, so the 500/503/429 cases here fail if it ever lets that replay outlive the token again.
 */
const HANG_TIMEOUT_MS = 3_000
const faultCount = (mode: FailureMode) => (mode === 'hang' ? 2 : 3)

/** The principal's Entra options; a hung token request is abandoned after HANG_TIMEOUT_MS. */
const entraOptions = (emu: Emu, sp: Principal, mode: FailureMode) => ({
  ...spOptions(emu, sp),
  ...(mode === 'hang' ? { requestTimeoutMs: HANG_TIMEOUT_MS } : {}),
})

async function faultsWhileCached(emu: Emu, mode: FailureMode) {
  const lifetimeSeconds = 30
  const count = faultCount(mode)
  const sp = await shortLivedPrincipal(emu, uniqueName(`cached-${mode}`), lifetimeSeconds)
  const auth = entraAuth(entraOptions(emu, sp, mode))
  const { pool, errors } = connectingPool(emu, sp.roleName!, auth)
  const failedConnects: string[] = []
  const connect = async (): Promise<void> => {
    try {
      await pool.query('select 1')
    } catch (error) {
      failedConnects.push(describeError(error))
    }
  }
  // Right after each failed refresh attempt (while the next one waits for its backoff), one more new connection.
  const duringFailedRefresh: Promise<void>[] = []
  auth.on((event) => {
    if (event.type === 'refresh-failed') duringFailedRefresh.push(connect())
  })
  try {
    await takeFirstToken(auth)
    await pool.query('select 1')
    const firstTokenId = (await seenBy(emu, sp)).issued.at(-1)?.tokenId
    await emu.knobs.failNext({ mode, count, principal: sp.name, retryAfterSeconds: 1 })
    let stop = false
    const load = (async () => {
      while (!stop) {
        await connect()
        await sleep(300)
      }
    })()
    // Rolled over: every fault consumed, and the front accepted a connection carrying a token newer than the first.
    const rolledOver = await eventually(
      async () => {
        const seen = await seenBy(emu, sp)
        const last = seen.acceptedTokenIds.at(-1)
        return seen.failuresInjected >= count && last !== undefined && last !== firstTokenId
      },
      lifetimeSeconds * 1000,
      500,
    )
    stop = true
    await Promise.all([load, ...duringFailedRefresh])
    const seen = await seenBy(emu, sp)
    return {
      mode,
      failedConnects: { count: failedConnects.length, distinct: [...new Set(failedConnects)].slice(0, 3) },
      poolErrors: errors,
      faultsConsumed: seen.failuresInjected,
      refreshFailuresSeen: auth.stats().failures > 0,
      connectedWhileRefreshFailing: duringFailedRefresh.length > 0,
      rolledOver,
    }
  } finally {
    await pool.end()
    await auth.close()
    await emu.knobs.reset({ principal: sp.name })
  }
}

/** What a connect attempt ended with, in terms an assertion can compare (`code` is `allowed` joined when it is one). */
function summarize(outcome: Outcome<unknown>, allowed: string[]) {
  if (!outcome.settled) return { settled: false, afterMs: outcome.ms }
  if (outcome.ok) return { settled: true, failed: false }
  const error = outcome.error
  const code = String((error as { code?: unknown }).code)
  return {
    settled: true,
    failed: true,
    pgEntraError: isPgEntraError(error),
    code: allowed.includes(code) ? allowed.join(' | ') : `${code} (${describeError(error)})`,
    hinted: isPgEntraError(error) && typeof error.hint === 'string' && error.hint.length > 0,
  }
}

/** A hung token request is abandoned after HANG_TIMEOUT_MS; anything else fails at once. */
const boundMs = 20_000

/**
 * The code a connect gets when nothing valid is left: Entra unreachable (it failed, hung, or answered garbage); for
 * tokens of the wrong audience, pg-entra refusing them itself (the database never sees them).
 */
const expectedCodes = (mode: FailureMode) => (mode === 'wrong-audience' ? ['TOKEN_UNAVAILABLE'] : ['ENTRA_UNREACHABLE'])

/** Faults that persist past the expiry of an 8 s token; then Entra answers again. */
async function faultsPastExpiry(emu: Emu, mode: FailureMode) {
  const sp = await shortLivedPrincipal(emu, uniqueName(`expired-${mode}`), 8)
  const auth = entraAuth(entraOptions(emu, sp, mode))
  const { pool, errors } = connectingPool(emu, sp.roleName!, auth)
  try {
    await takeFirstToken(auth)
    await pool.query('select 1')
    const { expiresOnTimestamp } = await auth.token()
    await emu.knobs.failNext({ mode, count: 100_000, principal: sp.name, retryAfterSeconds: 1 })
    await sleep(Math.max(0, expiresOnTimestamp - Date.now()) + 500)
    const first = summarize(await within(pool.query('select 1'), boundMs), expectedCodes(mode))
    const second = summarize(await within(pool.query('select 1'), boundMs), expectedCodes(mode))
    const issuedBefore = (await seenBy(emu, sp)).issued.length
    await emu.knobs.reset({ principal: sp.name })
    // Backoff is capped at 30 s and a hung request still in flight is given up after HANG_TIMEOUT_MS: a generous bound.
    const recovered = await eventually(
      () =>
        pool.query('select 1').then(
          () => true,
          () => false,
        ),
      100_000,
      1_000,
    )
    return {
      mode,
      first,
      second,
      recovered,
      newTokenAfterRecovery: (await seenBy(emu, sp)).issued.length > issuedBefore,
      poolErrors: errors,
    }
  } finally {
    await pool.end()
    await auth.close()
    await emu.knobs.reset({ principal: sp.name })
  }
}

describe.concurrent('Entra faults under a pg-entra pool', () => {
  it('with a valid token cached, faults on the refresh cost no connect', { timeout: 180_000 }, async ({ expect }) => {
    const emu = await useEmulator()
    const results = await Promise.all(MODES.map((mode) => faultsWhileCached(emu, mode)))
    expect(results).toEqual(
      MODES.map((mode) => ({
        mode,
        failedConnects: { count: 0, distinct: [] },
        poolErrors: [],
        faultsConsumed: faultCount(mode),
        refreshFailuresSeen: true,
        connectedWhileRefreshFailing: true,
        rolledOver: true,
      })),
    )
    expect(unhandled.seen.map(describeError)).toEqual([])
  })

  it('with no valid token left, connects fail with a coded error within a bound, then recover', {
    timeout: 200_000,
  }, async ({ expect }) => {
    const emu = await useEmulator()
    const results = await Promise.all(MODES.map((mode) => faultsPastExpiry(emu, mode)))
    const failedFast = (mode: FailureMode) => ({
      settled: true,
      failed: true,
      pgEntraError: true,
      code: expectedCodes(mode).join(' | '),
      hinted: true,
    })
    expect(results).toEqual(
      MODES.map((mode) => ({
        mode,
        first: failedFast(mode),
        second: failedFast(mode),
        recovered: true,
        newTokenAfterRecovery: true,
        poolErrors: [],
      })),
    )
    expect(unhandled.seen.map(describeError)).toEqual([])
  })
})
