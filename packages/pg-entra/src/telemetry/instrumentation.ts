/**
 * What the token source reports while it works, for metrics and traces. Each method wraps or notes one step; an
 * implementation must never throw into token delivery and must pass the wrapped call's result or error through.
 */
export interface TokenSourceInstrumentation {
  /** Wraps one token request to the credential (including its timeout). */
  tokenRequest<T extends AccessTokenLike>(request: () => Promise<T>): Promise<T>
  /** Wraps one call to the shared token store; for `get`, a non-empty answer counts as a hit. */
  storeCall<T>(operation: StoreOperation, call: () => Promise<T>): Promise<T>
  /** How the attempt to become the one process that refreshes went. */
  leaseOutcome(outcome: LeaseOutcome): void
}

export type StoreOperation = 'get' | 'set' | 'discard' | 'lease.acquire' | 'lease.release'

/**
 * `acquired`: this process refreshes; `held_elsewhere`: another process does; `adopted`: its token was read from the
 * store while waiting; `wait_timed_out`: it did not come in time; `failed`: the store could not say.
 */
export type LeaseOutcome = 'acquired' | 'held_elsewhere' | 'adopted' | 'wait_timed_out' | 'failed'

/** The part of an access token telemetry reads: its expiry, never the token itself. */
export interface AccessTokenLike {
  expiresOnTimestamp: number
}
