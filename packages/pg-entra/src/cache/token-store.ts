import type { PgEntraError } from '../errors/pg-entra-error.js'
import type { AccessToken } from '../shared/access-token.js'

/** A token as a store keeps it, with the identity it belongs to so that a mismatch is detected. */
export interface StoredToken extends AccessToken {
  /** Identity key (authority, tenant, client/identity, scope) the token was fetched for. */
  key: string
  /** When the token was fetched (epoch ms). */
  fetchedAt: number
}

export interface Lease {
  release(): Promise<void>
}

/**
 * Where tokens are shared. `memory` (default) keeps them in the process; `file` shares them between the processes
 * of one host; `redis` across a fleet. A store never throws to the token source: failures are reported through
 * `onWarning` and behave as a miss.
 */
export interface TokenStore {
  readonly kind: string
  get(key: string): Promise<StoredToken | undefined>
  set(token: StoredToken): Promise<void>
  /**
   * Removes the entry for `key` if it still holds `token`, a token the reader refused (another identity's, an
   * implausible expiry): otherwise an entry that outlives the reader's own token would stay until it expires.
   */
  discard?(key: string, token: string): Promise<void>
  /** Try to become the one process that refreshes `key`; undefined when another holder has it. */
  acquireLease?(key: string, ttlMs: number): Promise<Lease | undefined>
  /** Subscribes to the store's own failures (CACHE_ERROR); returns the unsubscribe function. */
  onWarning?(listener: (error: PgEntraError) => void): () => void
  close?(): Promise<void>
}
