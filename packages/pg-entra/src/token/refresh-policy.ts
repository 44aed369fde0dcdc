/**
 * When to refresh a token, when it may still be handed out, and how long to wait after a failure. Pure functions:
 * the caller reads the clock and draws the randomness, so every rule here is testable with plain numbers.
 */

/** A token's timing as the token source knows it: its own expiry, the credential's hint, and when it was fetched. */
export interface TokenTiming {
  expiresOnTimestamp: number
  refreshAfterTimestamp?: number
  /** When this process (or the process that stored it) received the token, epoch ms. */
  fetchedAt: number
}

export interface BackoffOptions {
  initialMs: number
  maxMs: number
}

export const DEFAULT_REFRESH_BEFORE_MS = 5 * 60_000
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000 }

/** A token is never handed out closer to expiry than this (a connect takes time; clocks drift)... */
export const SAFETY_MARGIN_MAX_MS = 30_000
/** ...nor than this share of its lifetime, so that 10-20 s tokens keep most of their life usable... */
export const SAFETY_MARGIN_FRACTION = 0.1
/**
 * ...and never closer than this, whatever the lifetime: an aged token (a credential's cache handing back one with
 * half a second left) is not handed to a connection that could not use it in time.
 */
export const SAFETY_MARGIN_MIN_MS = 500

/** Jitter moves a refresh earlier by at most this much... */
export const JITTER_MAX_MS = 60_000
/** ...and by at most this share of the time between the fetch and the refresh, so short tokens stay useful. */
export const JITTER_FRACTION = 0.2

/**
 * A token is never refreshed sooner after it was fetched than this share of its lifetime (at most
 * REFRESH_GAP_MAX_MS): a credential whose `refreshAfterTimestamp` is already due (a `refresh_in` of 0, an aged cached
 * token) would otherwise be asked again at once, for ever.
 */
export const REFRESH_GAP_FRACTION = 0.1
export const REFRESH_GAP_MAX_MS = 30_000

/** Full jitter may draw ~0: never retry sooner than this (or initialMs if smaller), so a failing endpoint is not hammered. */
export const BACKOFF_FLOOR_MS = 100

/** A Retry-After longer than this is treated as this (a broken header must not stop refreshing for hours). */
export const RETRY_AFTER_MAX_MS = 5 * 60_000

/** Bounds of the pause after the credential handed back the token we already had (MSAL's cached, aged token). */
export const SAME_TOKEN_RETRY_MIN_MS = 1_000
export const SAME_TOKEN_RETRY_MAX_MS = 30_000

/** Remaining life at fetch time, from the token's own expiry (an aged token from a credential's cache counts short). */
export function lifetimeMs(timing: TokenTiming): number {
  return Math.max(0, timing.expiresOnTimestamp - timing.fetchedAt)
}

export function safetyMarginMs(timing: TokenTiming): number {
  return Math.max(SAFETY_MARGIN_MIN_MS, Math.min(SAFETY_MARGIN_MAX_MS, lifetimeMs(timing) * SAFETY_MARGIN_FRACTION))
}

/** The last moment the token may be handed out (exclusive). */
export function usableUntil(timing: TokenTiming): number {
  return timing.expiresOnTimestamp - safetyMarginMs(timing)
}

export function isUsable(timing: TokenTiming, now: number): boolean {
  return now < usableUntil(timing)
}

/**
 * When the token is due for refresh, before jitter: the credential's `refreshAfterTimestamp` when it gives one, else
 * `refreshBeforeMs` before expiry. The lead is at most half the token's lifetime at fetch time, so a token shorter
 * than `refreshBeforeMs` (the emulator's 10-20 s tokens, an aged cached token) is refreshed at half-life rather
 * than at once, and at least twice the safety margin, so a refresh starts while the token is still usable.
 * `refreshAfterTimestamp` may move the refresh earlier than that, never later, and never before the fetch.
 */
export function refreshDueAt(timing: TokenTiming, refreshBeforeMs: number): number {
  const lead = Math.min(Math.max(refreshBeforeMs, 2 * safetyMarginMs(timing)), lifetimeMs(timing) / 2)
  const latest = timing.expiresOnTimestamp - lead
  const due = Math.min(timing.refreshAfterTimestamp ?? latest, latest)
  return Math.max(timing.fetchedAt, due)
}

/** The largest jitter `refreshAt` accepts: min(60 s, 20% of the time from fetch to due). */
export function jitterBoundMs(timing: TokenTiming, refreshBeforeMs: number): number {
  const span = refreshDueAt(timing, refreshBeforeMs) - timing.fetchedAt
  return Math.min(JITTER_MAX_MS, span * JITTER_FRACTION)
}

/**
 * When to refresh: `refreshDueAt` moved earlier by `jitterMs` (drawn by the caller, e.g. `random() * jitterBoundMs`,
 * so that the processes of a fleet do not all ask at once), but never sooner than `minimumRefreshGapMs` after the
 * fetch. Jitter outside [0, jitterBoundMs] is clamped into it.
 */
export function refreshAt(timing: TokenTiming, refreshBeforeMs: number, jitterMs: number): number {
  const bound = jitterBoundMs(timing, refreshBeforeMs)
  const jitter = Math.min(bound, Math.max(0, Number.isFinite(jitterMs) ? jitterMs : 0))
  return Math.max(timing.fetchedAt + minimumRefreshGapMs(timing), refreshDueAt(timing, refreshBeforeMs) - jitter)
}

/** How long a token is kept before any refresh: REFRESH_GAP_FRACTION of its life, at most REFRESH_GAP_MAX_MS. */
export function minimumRefreshGapMs(timing: TokenTiming): number {
  return Math.min(REFRESH_GAP_MAX_MS, lifetimeMs(timing) * REFRESH_GAP_FRACTION)
}

/** The cap of the exponential backoff for the `attempt`-th consecutive failure (1-based). */
export function backoffCeilingMs(attempt: number, backoff: BackoffOptions): number {
  const exponent = Math.max(0, Math.min(attempt - 1, 52))
  return Math.min(backoff.maxMs, backoff.initialMs * 2 ** exponent)
}

/**
 * How long to wait before the next attempt: full jitter (`random` in [0, 1) times the capped exponential, at least
 * BACKOFF_FLOOR_MS), but never less than a Retry-After the failure carried (itself capped at RETRY_AFTER_MAX_MS).
 */
export function backoffDelayMs(
  attempt: number,
  backoff: BackoffOptions,
  random: number,
  retryAfterMs?: number,
): number {
  const jittered = Math.floor(Math.min(Math.max(random, 0), 1) * backoffCeilingMs(attempt, backoff))
  const floor = Math.min(BACKOFF_FLOOR_MS, backoff.initialMs)
  const serverSays = retryAfterMs !== undefined && retryAfterMs > 0 ? Math.min(retryAfterMs, RETRY_AFTER_MAX_MS) : 0
  return Math.max(jittered, floor, serverSays)
}

/** The Retry-After (ms) an error carries in `details.retryAfterMs`, as the credential layer records it. */
export function retryAfterMsOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined
  const details = (error as { details?: unknown }).details
  if (typeof details !== 'object' || details === null) return undefined
  const value = (details as Record<string, unknown>).retryAfterMs
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : undefined
}

/**
 * The pause before asking again when the credential handed back the token we already had: a tenth of its usable
 * life left, within [1 s, 30 s]. MSAL answers from its cache until 5 min before expiry, so this polls past that.
 */
export function sameTokenRetryDelayMs(timing: TokenTiming, now: number): number {
  const left = usableUntil(timing) - now
  return Math.min(SAME_TOKEN_RETRY_MAX_MS, Math.max(SAME_TOKEN_RETRY_MIN_MS, left / 10))
}
