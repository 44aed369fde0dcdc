// Soak: a pg-entra pool under steady load, its connections churning (maxLifetimeSeconds: 2), through more than ten
// rollovers of 8 s tokens while the emulator injects random Entra faults (seeded: SOAK_SEED replays a run). It runs
// a minute, and on a slow machine on until ten rollovers have happened, so that the machine's speed cannot fail it.
// Zero failed queries; the emulator's counters prove the rollovers happened and connections carried the new tokens.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { shortLivedPrincipal, uniqueName, useEmulator } from '../../../../tools/test/emulator.js'
import type { FailureMode } from '../../../emulator/src/index.js'
import { createPool } from '../../src/adapters/pg.js'
import { entraAuth } from '../../src/auth/entra-auth.js'
import {
  describeError,
  frontOf,
  recordUnhandledRejections,
  type Seen,
  seededRandom,
  seenBy,
  sleep,
  spOptions,
  takeFirstToken,
} from './_reliability.js'

const SEED = Number(process.env.SOAK_SEED ?? 20261128)
const DURATION_MS = 60_000
/** How long the soak may run on while the rollovers it counts have not all happened yet. */
const MAX_DURATION_MS = 150_000
const ROLLOVERS = 10
const TOKEN_LIFETIME_SECONDS = 8
/** A hung token request is abandoned after this (the requestTimeoutMs option), well inside a token's refresh window. */
const REQUEST_TIMEOUT_MS = 1_500
const WORKERS = 4
/**
 * Faults a refresh of an 8 s token can absorb (refreshed from about 3.2 s, usable until 7.2 s): one per refresh. The
 * worst, a hang, costs REQUEST_TIMEOUT_MS and a backoff of at most 0.5 s; a token for the wrong audience is refused
 * by pg-entra itself (the database never sees it).
 */
const FAULTS: FailureMode[] = [500, 503, 429, 'hang', 'reset', 'malformed', 'wrong-audience']

const unhandled = recordUnhandledRejections()
beforeAll(() => unhandled.install())
afterAll(() => unhandled.uninstall())

describe('soak', () => {
  it(`a churning pool through ten rollovers of ${TOKEN_LIFETIME_SECONDS} s tokens with random Entra faults (seed ${SEED})`, {
    timeout: MAX_DURATION_MS + 90_000,
  }, async () => {
    // One generator per stream, so that a seed replays the same fault sequence whatever the timing.
    const faultRandom = seededRandom(SEED)
    const pauseRandom = seededRandom(SEED + 1)
    const emu = await useEmulator()
    const sp = await shortLivedPrincipal(emu, uniqueName('soak'), TOKEN_LIFETIME_SECONDS)
    const auth = entraAuth({ ...spOptions(emu, sp), requestTimeoutMs: REQUEST_TIMEOUT_MS })
    const pool = createPool({
      ...frontOf(emu),
      user: sp.roleName!,
      entra: auth,
      max: WORKERS,
      maxLifetimeSeconds: 2,
      idleTimeoutMillis: 1_000,
    })
    const poolErrors: string[] = []
    pool.on('error', (error) => poolErrors.push(describeError(error)))
    const failedQueries: string[] = []
    const injected: string[] = []
    let queries = 0
    try {
      await takeFirstToken(auth)
      await pool.query('select 1')
      const started = Date.now()
      const rollovers = (seen: Seen) => ({
        atLeast10Rollovers: seen.issued.length > ROLLOVERS,
        connectionsCarriedAtLeast10Tokens: new Set(seen.acceptedTokenIds).size >= ROLLOVERS,
      })
      const rolledOver = (seen: Seen) => Object.values(rollovers(seen)).every(Boolean)
      let stopped = false
      const clock = async () => {
        try {
          while (Date.now() - started < MAX_DURATION_MS) {
            await sleep(1_000)
            if (Date.now() - started >= DURATION_MS && rolledOver(await seenBy(emu, sp))) break
          }
        } finally {
          stopped = true
        }
      }
      const worker = async () => {
        while (!stopped) {
          queries++
          await pool.query('select 1').catch((error: unknown) => failedQueries.push(describeError(error)))
          await sleep(20 + Math.floor(pauseRandom() * 100))
        }
      }
      // One fault per refresh: the next is injected only once the last was hit and a good token was issued after it.
      const recoveredFromLastFault = async (): Promise<boolean> => {
        const log = (await emu.requestLog()).filter((entry) => entry.principal === sp.name)
        let lastFault = -1
        log.forEach((entry, index) => {
          if (entry.injected !== undefined) lastFault = index
        })
        return log.slice(lastFault + 1).some((entry) => entry.status === 200 && entry.tokenId !== undefined)
      }
      const injector = async () => {
        while (Date.now() - started < DURATION_MS - 3_000) {
          await sleep(1_500 + Math.floor(pauseRandom() * 1_500))
          const seen = await seenBy(emu, sp)
          if (seen.failuresInjected < injected.length) continue // the last one is still pending
          if (!(await recoveredFromLastFault())) continue
          const mode = FAULTS[Math.floor(faultRandom() * FAULTS.length)]!
          injected.push(String(mode))
          await emu.knobs.failNext({ mode, count: 1, principal: sp.name, retryAfterSeconds: 1 })
        }
      }
      await Promise.all([clock(), injector(), ...Array.from({ length: WORKERS }, worker)])

      const seen = await seenBy(emu, sp)
      const tokensUsed = new Set(seen.acceptedTokenIds)
      const summary = {
        failedQueries: { count: failedQueries.length, distinct: [...new Set(failedQueries)].slice(0, 5) },
        poolErrors,
        unhandledRejections: unhandled.seen.map(describeError),
        ...rollovers(seen),
        faultsHit: seen.failuresInjected >= 5,
        steadyLoad: queries >= 200,
      }
      expect(
        summary,
        `seed ${SEED}: ${queries} queries in ${Math.round((Date.now() - started) / 1000)} s, ${seen.issued.length} tokens issued, ${tokensUsed.size} used by connections, faults injected ${injected.join(' ')} (${seen.failuresInjected} hit)`,
      ).toEqual({
        failedQueries: { count: 0, distinct: [] },
        poolErrors: [],
        unhandledRejections: [],
        atLeast10Rollovers: true,
        connectionsCarriedAtLeast10Tokens: true,
        faultsHit: true,
        steadyLoad: true,
      })
    } finally {
      await pool.end()
      await auth.close()
      await emu.knobs.reset({ principal: sp.name })
    }
  })
})
