/** What a readiness probe needs to know; times are epoch milliseconds. */
export interface Health {
  /**
   * False only when the last token request failed and no usable token is left: connects would fail. A process that
   * has not connected yet is ready (its first connect fetches), and so is one whose Entra is failing while the last
   * good token still serves (lastError says so).
   */
  ready: boolean
  tokenExpiresOn: number | undefined
  /** Time left before the held token expires (0 once expired); undefined when no token is held. */
  tokenExpiresInMs: number | undefined
  /** When the next refresh (or retry after a failure) may start. */
  refreshAt: number | undefined
  /** The last failed refresh, kept after recovery: consecutiveFailures says whether it still fails. */
  lastError: { code: string; message: string; at: number } | undefined
  /** Failed refreshes since the last token was received. */
  consecutiveFailures: number
}

export interface HealthFacts {
  now: number
  expiresOn: number | undefined
  /** The last moment the held token is handed out (its expiry minus the safety margin). */
  usableUntil: number | undefined
  nextAttemptAt: number | undefined
  lastError: Health['lastError']
  consecutiveFailures: number
}

export function healthOf(facts: HealthFacts): Health {
  const usable = facts.usableUntil !== undefined && facts.now < facts.usableUntil
  return {
    ready: usable || facts.consecutiveFailures === 0,
    tokenExpiresOn: facts.expiresOn,
    tokenExpiresInMs: facts.expiresOn === undefined ? undefined : Math.max(0, facts.expiresOn - facts.now),
    refreshAt: facts.nextAttemptAt,
    lastError: facts.lastError,
    consecutiveFailures: facts.consecutiveFailures,
  }
}
