import type { PgEntraError } from '../errors/pg-entra-error.js'

export type EntraAuthEvent =
  | { type: 'token'; source: 'credential' | 'cache'; expiresOn: number; refreshAt: number; fingerprint: string }
  | { type: 'refresh-failed'; error: PgEntraError; attempt: number; retryAt: number }
  | { type: 'warning'; error: PgEntraError }

export interface EntraAuthStats {
  /** Token requests made to the credential. */
  requests: number
  /** password()/token() calls answered from the cache without waiting. */
  hits: number
  /** Calls that waited for a request in flight. */
  waits: number
  failures: number
  lastRefresh: number | undefined
  nextRefresh: number | undefined
  expiresOn: number | undefined
  lastError: { code: string; message: string; at: number } | undefined
}
