import { memoryCache } from '../cache/memory-cache.js'
import type { Lease, StoredToken, TokenStore } from '../cache/token-store.js'
import { isPgEntraError, PgEntraError } from '../errors/pg-entra-error.js'
import { summarize } from '../errors/redact.js'
import type { AccessToken } from '../shared/access-token.js'
import type { Clock, Timer } from '../shared/clock.js'
import { fingerprint } from '../shared/fingerprint.js'
import { type Health, healthOf } from '../telemetry/health.js'
import type { StoreOperation, TokenSourceInstrumentation } from '../telemetry/instrumentation.js'
import { boundedCalls } from './_bounded-calls.js'
import type { EntraAuthEvent, EntraAuthStats } from './events.js'
import {
  type BackoffOptions,
  backoffDelayMs,
  DEFAULT_BACKOFF,
  isUsable,
  jitterBoundMs,
  refreshAt,
  retryAfterMsOf,
  sameTokenRetryDelayMs,
  type TokenTiming,
  usableUntil,
} from './refresh-policy.js'

export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000
export const DEFAULT_STORE_TIMEOUT_MS = 2_000
export const DEFAULT_LEASE_WAIT_MS = 5_000
export const DEFAULT_LEASE_POLL_MS = 250

export interface TokenSourceOptions {
  /** The credential call; its errors are already PgEntraError-classified by the caller (others become TOKEN_UNAVAILABLE). */
  fetchToken(signal: AbortSignal): Promise<AccessToken>
  clock: Clock
  /** Random in [0, 1) for jitter (default Math.random). */
  random?: () => number
  /** Refresh when the token has less than this left; the credential's refreshAfterTimestamp wins when earlier. */
  refreshBeforeMs: number
  /** A token request that takes longer is aborted (through its AbortSignal) and fails with ENTRA_UNREACHABLE. */
  requestTimeoutMs?: number
  /** Exponential backoff with full jitter between failed attempts (default 500 ms doubling up to 30 s). */
  backoff?: BackoffOptions
  /** Where tokens are shared (default: a memory store of this source's own). */
  store?: TokenStore
  storeKey: string
  /**
   * Judges a token read from the store before it is used: a reason to refuse it (a CACHE_ERROR warning, then the
   * token is ignored and a fresh one fetched), or undefined to use it. A store returns what was written under a key,
   * by anyone who can write there: this is where its claims are held against the identity that asked.
   */
  checkStored?(stored: StoredToken, context: StoredTokenContext): string | undefined
  /** A store call that takes longer counts as failed (a warning) and as a miss. */
  storeTimeoutMs?: number
  /** How long a process that lost the refresh lease waits for the holder's token before fetching its own. */
  leaseWaitMs?: number
  /** How often it re-reads the store meanwhile. */
  leasePollMs?: number
  onEvent?(event: EntraAuthEvent): void
  /** Metrics and spans around the token request and each store call (telemetry/). */
  instrumentation?: TokenSourceInstrumentation
}

export interface StoredTokenContext {
  now: number
  /** The store's `kind`: `memory` is this process's own, anything else may be written by others. */
  storeKind: string
}

export interface TokenSource {
  /**
   * The cached token at once while it is usable (starting a background refresh when it is due and none runs);
   * otherwise the single request in flight, shared by every caller. Rejects promptly with a PgEntraError when no
   * usable token is left and the last attempt failed; never resolves with a token inside its safety margin.
   */
  get(): Promise<AccessToken>
  /** Fetches a new token now, skipping the shared store; concurrent callers share one request. */
  refresh(): Promise<AccessToken>
  /** Forgets `token` (the database refused it) so that the next get() fetches; false when it was not the current one. */
  invalidate(token: string): boolean
  stats(): EntraAuthStats
  /** Whether a usable token is held, how long it has left, and the last failure: for a readiness probe. */
  health(): Health
  /** Cancels every timer and aborts the request in flight; pending and later calls reject with CLOSED. */
  close(): void
}

interface CurrentToken extends TokenTiming {
  token: AccessToken
  usableUntil: number
  refreshAt: number
}

interface Deferred {
  promise: Promise<AccessToken>
  resolve(token: AccessToken): void
  reject(error: unknown): void
}

type StoreRead = 'fresh' | 'due' | 'none'
type StoreResult<T> = { ok: true; value: T } | { ok: false }

const MAX_REMEMBERED_INVALID = 16
const MAX_REMEMBERED_REFUSED = 16

/** Store calls as warnings name them, and as telemetry names them. */
const STORE_OPERATIONS = {
  read: 'get',
  write: 'set',
  'remove a refused token': 'discard',
  'acquire the refresh lease': 'lease.acquire',
  'release the refresh lease': 'lease.release',
} as const satisfies Record<string, StoreOperation>
type StoreAction = keyof typeof STORE_OPERATIONS

export function createTokenSource(options: TokenSourceOptions): TokenSource {
  validateOptions(options)
  const { clock, storeKey, refreshBeforeMs } = options
  const random = options.random ?? Math.random
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
  const backoff = options.backoff ?? DEFAULT_BACKOFF
  const store = options.store ?? memoryCache()
  const storeTimeoutMs = options.storeTimeoutMs ?? DEFAULT_STORE_TIMEOUT_MS
  const leaseWaitMs = options.leaseWaitMs ?? DEFAULT_LEASE_WAIT_MS
  const leasePollMs = options.leasePollMs ?? DEFAULT_LEASE_POLL_MS
  const leaseTtlMs = requestTimeoutMs + 2 * storeTimeoutMs
  const instrumentation = options.instrumentation

  let current: CurrentToken | undefined
  /** The refresh in flight, if any (one at a time: the single flight). */
  let running: object | undefined
  /** refresh() was called while a run that will not fetch anew was in flight: fetch again once it ends. */
  let refreshAfterRun = false
  let waiting: Deferred | undefined
  let timer: Timer | undefined
  /** Earliest time the next refresh may start by itself (timer or a caller in the refresh window). */
  let nextAttemptAt: number | undefined
  let consecutiveFailures = 0
  let lastError: PgEntraError | undefined
  let closed = false
  const invalidated: string[] = []
  /** Fingerprints of stored tokens checkStored refused: each is reported once, then skipped. */
  const refused: string[] = []
  /** The request, store calls and pauses in flight, all cancelled by close(). */
  const inFlight = boundedCalls(clock, closedError)
  const counters = { requests: 0, hits: 0, waits: 0, failures: 0 }
  let lastRefresh: number | undefined
  let lastErrorStat: EntraAuthStats['lastError']

  const emit = (event: EntraAuthEvent): void => {
    try {
      options.onEvent?.(event)
    } catch {
      // A listener's failure must not break token delivery.
    }
  }

  function get(): Promise<AccessToken> {
    if (closed) return Promise.reject(closedError())
    const now = clock.now()
    if (current && now < current.usableUntil) {
      counters.hits++
      // Timers may starve (serverless CPUs throttled between requests): the caller starts the due refresh itself.
      if (!running && nextAttemptAt !== undefined && now >= nextAttemptAt) startRun(false)
      return Promise.resolve(current.token)
    }
    if (!running) {
      if (lastError && nextAttemptAt !== undefined && now < nextAttemptAt) return Promise.reject(lastError)
      startRun(false)
    }
    counters.waits++
    return waitForToken()
  }

  function refresh(): Promise<AccessToken> {
    if (closed) return Promise.reject(closedError())
    if (running) refreshAfterRun = true
    else startRun(true)
    counters.waits++
    return waitForToken()
  }

  function invalidate(token: string): boolean {
    invalidated.push(fingerprint(token))
    if (invalidated.length > MAX_REMEMBERED_INVALID) invalidated.shift()
    if (current?.token.token !== token) return false
    current = undefined
    nextAttemptAt = undefined
    cancelTimer()
    return true
  }

  function stats(): EntraAuthStats {
    return {
      ...counters,
      lastRefresh,
      nextRefresh: nextAttemptAt,
      expiresOn: current?.expiresOnTimestamp,
      lastError: lastErrorStat,
    }
  }

  function health(): Health {
    return healthOf({
      now: clock.now(),
      expiresOn: current?.expiresOnTimestamp,
      usableUntil: current?.usableUntil,
      nextAttemptAt,
      lastError: lastErrorStat,
      consecutiveFailures,
    })
  }

  function close(): void {
    if (closed) return
    closed = true
    cancelTimer()
    inFlight.cancelAll()
    waiting?.reject(closedError())
    waiting = undefined
  }

  function waitForToken(): Promise<AccessToken> {
    if (!waiting) {
      let resolve!: (token: AccessToken) => void
      let reject!: (error: unknown) => void
      const promise = new Promise<AccessToken>((res, rej) => {
        resolve = res
        reject = rej
      })
      waiting = { promise, resolve, reject }
    }
    return waiting.promise
  }

  /** After a run: callers still waiting get the current token if usable, else the reason there is none. */
  function settleWaiting(): void {
    if (!waiting || closed) return
    const pending = waiting
    waiting = undefined
    if (current && clock.now() < current.usableUntil) pending.resolve(current.token)
    else pending.reject(lastError ?? noTokenError())
  }

  function startRun(force: boolean): void {
    cancelTimer()
    const run = {}
    running = run
    void runOnce(force, run)
  }

  /** Ends a run synchronously with its last step, so that the next caller sees no refresh in flight. */
  function endRun(run: object): void {
    if (running !== run) return
    running = undefined
    if (refreshAfterRun && waiting && !closed) {
      refreshAfterRun = false
      startRun(true)
      return
    }
    refreshAfterRun = false
    settleWaiting()
  }

  /** One refresh: the shared store, the lease, the request, the store again. Never rejects. */
  async function runOnce(force: boolean, run: object): Promise<void> {
    let lease: Lease | undefined
    try {
      if (!force) {
        if ((await readStore()) === 'fresh') return
        const leasing = await tryLease()
        lease = leasing.lease
        // Another process may have refreshed and let go of the lease between our read and our lease.
        if (lease && (await readStore()) === 'fresh') return
        if (leasing.heldElsewhere) {
          const waited = await waitForLeaseHolder()
          instrumentation?.leaseOutcome(waited.adopted ? 'adopted' : 'wait_timed_out')
          if (waited.adopted) return
          lease = waited.lease
          // The holder is slow: while our token stays usable, look again soon rather than add to the load on
          // Entra; with nothing usable left (or the lease now ours), fetch ourselves.
          const now = clock.now()
          if (!lease && current && isUsable(current, now + leaseWaitMs + leasePollMs)) {
            scheduleAttempt(now + leasePollMs)
            return
          }
        }
      }
      if (closed) return
      const token = await requestToken()
      if (closed) return
      if (receive(token)) {
        persist(lease)
        lease = undefined
      }
    } catch (error) {
      if (!closed) fail(asPgEntraError(error))
    } finally {
      if (lease) releaseLease(lease)
      endRun(run)
    }
  }

  /** Takes a newly fetched token; false when it is the one we had (not new), throws when it cannot be used. */
  function receive(token: AccessToken | null | undefined): boolean {
    if (!token || typeof token.token !== 'string' || token.token === '' || !Number.isFinite(token.expiresOnTimestamp)) {
      throw new PgEntraError('TOKEN_UNAVAILABLE', 'the credential returned no access token', {
        hint: 'check that the credential can issue tokens for this scope (pg-entra check shows the details)',
      })
    }
    const now = clock.now()
    if (current && token.token === current.token.token) {
      // MSAL answers from its cache until 5 min before expiry: the same, aged token is not a refresh. Ask again a
      // little later and keep serving it while it is usable.
      if (!isUsable(current, now)) {
        throw new PgEntraError('TOKEN_UNAVAILABLE', 'the credential keeps returning a token that has expired', {
          hint: 'the credential is answering from a stale cache; restart the process or check its token endpoint',
          details: { expiresOn: new Date(current.expiresOnTimestamp).toISOString() },
        })
      }
      scheduleAttempt(now + sameTokenRetryDelayMs(current, now))
      return false
    }
    const timing: TokenTiming = { ...token, fetchedAt: now }
    if (!isUsable(timing, now)) {
      throw new PgEntraError(
        'TOKEN_UNAVAILABLE',
        'the credential returned a token that is already expired or about to',
        {
          hint: "check the clocks of this machine and the token endpoint; the token's lifetime is too short to use",
          details: { expiresOn: new Date(token.expiresOnTimestamp).toISOString() },
        },
      )
    }
    accept(token, 'credential', now)
    return true
  }

  function accept(token: AccessToken, source: 'credential' | 'cache', fetchedAt: number): void {
    const clean: AccessToken = { token: token.token, expiresOnTimestamp: token.expiresOnTimestamp }
    if (token.refreshAfterTimestamp !== undefined) clean.refreshAfterTimestamp = token.refreshAfterTimestamp
    if (token.tokenType !== undefined) clean.tokenType = token.tokenType
    const timing: TokenTiming = { ...clean, fetchedAt }
    const at = refreshAt(timing, refreshBeforeMs, random() * jitterBoundMs(timing, refreshBeforeMs))
    current = { ...timing, token: clean, usableUntil: usableUntil(timing), refreshAt: at }
    consecutiveFailures = 0
    lastError = undefined
    refreshAfterRun = false
    lastRefresh = clock.now()
    scheduleAttempt(at)
    emit({
      type: 'token',
      source,
      expiresOn: clean.expiresOnTimestamp,
      refreshAt: at,
      fingerprint: fingerprint(clean.token),
    })
    if (waiting) {
      const pending = waiting
      waiting = undefined
      pending.resolve(clean)
    }
  }

  function fail(error: PgEntraError): void {
    const now = clock.now()
    consecutiveFailures++
    counters.failures++
    lastError = error
    lastErrorStat = { code: error.code, message: error.message, at: now }
    const retryAt = now + backoffDelayMs(consecutiveFailures, backoff, random(), retryAfterMsOf(error))
    scheduleAttempt(retryAt)
    emit({ type: 'refresh-failed', error, attempt: consecutiveFailures, retryAt })
  }

  /**
   * Sets when the next refresh may start. A timer is armed only while a usable token remains until then: with
   * nothing usable, the next caller starts the attempt (so an idle process does not poll a failing endpoint).
   */
  function scheduleAttempt(at: number): void {
    nextAttemptAt = at
    cancelTimer()
    if (closed || !current || at >= current.usableUntil) return
    timer = clock.setTimer(at - clock.now(), () => {
      timer = undefined
      if (!closed && !running) startRun(false)
    })
  }

  function cancelTimer(): void {
    timer?.cancel()
    timer = undefined
  }

  /** The credential call, aborted through its signal when it outlives requestTimeoutMs or the source closes. */
  function requestToken(): Promise<AccessToken> {
    counters.requests++
    const request = () =>
      inFlight.run(
        requestTimeoutMs,
        (signal) => options.fetchToken(signal),
        () =>
          new PgEntraError('ENTRA_UNREACHABLE', `the token request did not complete within ${requestTimeoutMs} ms`, {
            hint: 'check network access to the authority host (proxy, firewall, DNS) and its status',
            details: { timeoutMs: requestTimeoutMs },
          }),
      )
    return instrumentation ? instrumentation.tokenRequest(request) : request()
  }

  /** Adopts a newer token another process put in the store. 'fresh': adopted and not yet due for refresh. */
  async function readStore(): Promise<StoreRead> {
    const read = await storeCall('read', () => store.get(storeKey))
    if (!read.ok || !read.value || closed) return 'none'
    const stored = read.value
    if (!isStoredToken(stored) || stored.key !== storeKey) return 'none'
    if (current && stored.token === current.token.token) return 'none'
    if (invalidated.includes(fingerprint(stored.token))) return 'none'
    const now = clock.now()
    const timing: TokenTiming = { ...stored, fetchedAt: Math.min(stored.fetchedAt, now) }
    if (!isUsable(timing, now)) return 'none'
    if (current && stored.expiresOnTimestamp <= current.expiresOnTimestamp) return 'none'
    if (!passesCheck(stored, now)) {
      await discardRefused(stored)
      return 'none'
    }
    accept(stored, 'cache', timing.fetchedAt)
    return current && now < current.refreshAt ? 'fresh' : 'due'
  }

  function passesCheck(stored: StoredToken, now: number): boolean {
    if (!options.checkStored) return true
    const print = fingerprint(stored.token)
    if (refused.includes(print)) return false
    let reason: string | undefined
    try {
      reason = options.checkStored(stored, { now, storeKind: store.kind })
    } catch {
      reason = 'it could not be checked'
    }
    if (reason === undefined) return true
    refused.push(print)
    if (refused.length > MAX_REMEMBERED_REFUSED) refused.shift()
    const error = new PgEntraError('CACHE_ERROR', `a token in the ${store.kind} token store was refused: ${reason}`, {
      hint:
        "pg-entra fetched its own token instead; if this repeats, someone else writes under this identity's key: " +
        'give each application its own store (keyPrefix, directory) and an encryptionKey',
      details: { store: store.kind, action: 'check', reason, fingerprint: print },
    })
    emit({ type: 'warning', error })
    return false
  }

  /** Removes a refused entry (if the store can and it is still there), so that our own token can take its place. */
  async function discardRefused(stored: StoredToken): Promise<void> {
    const discard = store.discard?.bind(store)
    if (discard) await storeCall('remove a refused token', () => discard(storeKey, stored.token))
  }

  async function tryLease(record = true): Promise<{ lease?: Lease; heldElsewhere: boolean }> {
    const acquire = store.acquireLease?.bind(store)
    if (!acquire) return { heldElsewhere: false }
    const result = await storeCall('acquire the refresh lease', () => acquire(storeKey, leaseTtlMs))
    if (record) instrumentation?.leaseOutcome(!result.ok ? 'failed' : result.value ? 'acquired' : 'held_elsewhere')
    if (!result.ok) return { heldElsewhere: false }
    return result.value ? { lease: result.value, heldElsewhere: false } : { heldElsewhere: true }
  }

  /**
   * Another process holds the lease: re-read the store for its token. Past leaseWaitMs, each look also asks for the
   * lease: while its holder still has it (a slow request, as on a loaded machine, not a dead process) this process
   * goes on waiting, never longer than the lease lives (the holder's own request timeout bounds it); once the holder
   * lets go without leaving a token, or its lease expires, the lease is this process's and it fetches.
   */
  async function waitForLeaseHolder(): Promise<{ adopted: true } | { adopted: false; lease?: Lease }> {
    const started = clock.now()
    const patience = started + leaseWaitMs
    const limit = started + leaseTtlMs
    while (!closed && clock.now() < limit) {
      await inFlight.pause(Math.min(leasePollMs, limit - clock.now()))
      if ((await readStore()) === 'fresh') return { adopted: true }
      if (clock.now() < patience) continue
      const again = await tryLease(false)
      if (again.lease) {
        if ((await readStore()) !== 'fresh') return { adopted: false, lease: again.lease }
        releaseLease(again.lease)
        return { adopted: true }
      }
      if (!again.heldElsewhere) return { adopted: false } // the store cannot say: fetch on our own
      if (current && isUsable(current, clock.now() + leasePollMs)) return { adopted: false }
    }
    return { adopted: false }
  }

  /** Writes the token just accepted for other processes, then lets go of the lease. */
  function persist(lease: Lease | undefined): void {
    if (!current) return
    const stored: StoredToken = { ...current.token, key: storeKey, fetchedAt: current.fetchedAt }
    void (async () => {
      await storeCall('write', () => store.set(stored))
      if (lease) releaseLease(lease)
    })()
  }

  /**
   * Lets go of a refresh lease, after close() too: a lease left held makes every other process wait for its holder
   * (leaseWaitMs) until it expires. The stores bound their own calls.
   */
  function releaseLease(lease: Lease): void {
    const release = () => Promise.resolve().then(() => lease.release())
    const operation = STORE_OPERATIONS['release the refresh lease']
    void (instrumentation ? instrumentation.storeCall(operation, release) : release()).catch((error: unknown) => {
      if (!closed) warn('release the refresh lease', error)
    })
  }

  /** A store call bounded by storeTimeoutMs; a failure or timeout is a CACHE_ERROR warning and counts as a miss. */
  async function storeCall<T>(action: StoreAction, call: () => Promise<T>): Promise<StoreResult<T>> {
    if (closed) return { ok: false }
    try {
      const bounded = () => inFlight.run(storeTimeoutMs, call, () => new Error(`no answer within ${storeTimeoutMs} ms`))
      const value = await (instrumentation ? instrumentation.storeCall(STORE_OPERATIONS[action], bounded) : bounded())
      return { ok: true, value }
    } catch (error) {
      if (!closed) warn(action, error)
      return { ok: false }
    }
  }

  function warn(action: StoreAction, reason: unknown): void {
    // The store's error is summarised, not kept as `cause`: util.inspect prints a cause, and a store client's error
    // may quote the command it sent, token included.
    const error = new PgEntraError('CACHE_ERROR', `the ${store.kind} token store failed to ${action}`, {
      hint: "pg-entra carries on with this process's own token; check the store (details.reason says why)",
      details: { store: store.kind, action, reason: summarize(reason) },
    })
    emit({ type: 'warning', error })
  }

  return { get, refresh, invalidate, stats, health, close }
}

function validateOptions(options: TokenSourceOptions): void {
  const check = (name: string, value: number | undefined, min: number): void => {
    if (value === undefined) return
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
      throw new PgEntraError('INVALID_OPTION', `${name} must be a finite number >= ${min}`, {
        hint: `pass ${name} as a number of milliseconds`,
        details: { option: name },
      })
    }
  }
  if (options.checkStored !== undefined && typeof options.checkStored !== 'function') {
    throw new PgEntraError('INVALID_OPTION', 'checkStored must be a function', { details: { option: 'checkStored' } })
  }
  if (typeof options.fetchToken !== 'function') {
    throw new PgEntraError('INVALID_OPTION', 'fetchToken must be a function', { details: { option: 'fetchToken' } })
  }
  check('refreshBeforeMs', options.refreshBeforeMs ?? Number.NaN, 0)
  check('requestTimeoutMs', options.requestTimeoutMs, 1)
  check('storeTimeoutMs', options.storeTimeoutMs, 1)
  check('leaseWaitMs', options.leaseWaitMs, 0)
  check('leasePollMs', options.leasePollMs, 1)
  check('backoff.initialMs', options.backoff?.initialMs, 1)
  check('backoff.maxMs', options.backoff?.maxMs, options.backoff?.initialMs ?? 1)
}

function isStoredToken(value: unknown): value is StoredToken {
  if (typeof value !== 'object' || value === null) return false
  const candidate = value as Partial<StoredToken>
  return (
    typeof candidate.token === 'string' &&
    candidate.token !== '' &&
    typeof candidate.key === 'string' &&
    Number.isFinite(candidate.expiresOnTimestamp) &&
    Number.isFinite(candidate.fetchedAt) &&
    (candidate.refreshAfterTimestamp === undefined || Number.isFinite(candidate.refreshAfterTimestamp))
  )
}

/** A credential error the caller did not classify; summarised (no `cause`) for the same reason as store errors. */
function asPgEntraError(error: unknown): PgEntraError {
  if (isPgEntraError(error)) return error
  return new PgEntraError('TOKEN_UNAVAILABLE', 'the credential failed to return a token', {
    hint: 'details.reason has the credential error; pg-entra retries with backoff',
    details: { reason: summarize(error) },
  })
}

function closedError(): PgEntraError {
  return new PgEntraError('CLOSED', 'the token source is closed', {
    hint: 'create a new EntraAuth after close(), or stop using this one',
  })
}

function noTokenError(): PgEntraError {
  return new PgEntraError('TOKEN_UNAVAILABLE', 'no valid access token is available', {
    hint: 'check the credential and network access to the authority host; stats() shows the last error',
  })
}
