import type { TokenStore } from '../cache/token-store.js'
import type { CloudName } from '../identity/cloud.js'
import type { CredentialOptions } from '../identity/credential.js'
import type { AccessToken } from '../shared/access-token.js'
import type { Clock } from '../shared/clock.js'
import type { TokenIdentity } from '../shared/identity.js'
import type { Health } from '../telemetry/health.js'
import type { TelemetryOption } from '../telemetry/telemetry.js'
import type { EntraAuthEvent, EntraAuthStats } from '../token/events.js'

export type { CloudName, CredentialOptions, EntraAuthEvent, EntraAuthStats, Health, TelemetryOption, TokenIdentity }

export interface EntraAuthOptions extends CredentialOptions {
  // Where.
  cloud?: CloudName
  /** Overrides the cloud's scope, e.g. 'https://ossrdbms-aad.database.windows.net/.default'. */
  scope?: string
  /** Overrides the cloud's authority host. A non-Microsoft host turns instance discovery off. */
  authorityHost?: string
  /** PEM CA(s) to trust for the authority host (e.g. pg-entra-emulator's CA). */
  authorityCa?: string | Buffer

  // When.
  /** Refresh when the token has less than this left (default 5), unless the credential says when. */
  refreshBeforeMinutes?: number
  /**
   * A token request (metadata and token endpoint together) that takes longer is abandoned and counts as a failed
   * refresh (ENTRA_UNREACHABLE), retried with backoff while the last token serves. Default 30000 ms.
   */
  requestTimeoutMs?: number

  /**
   * Lets a token travel over a connection without verified TLS (ssl: false, rejectUnauthorized: false, sslmode
   * disable/prefer/require-without-verification). Off by default; only for a trusted local network.
   */
  allowUnverifiedTls?: boolean

  /** Where tokens are shared (default: this process's memory). */
  cache?: TokenStore
  /** Receives refreshes, failures and warnings; secrets never reach it. */
  logger?: EntraAuthLogger
  /**
   * OpenTelemetry metrics and spans (docs/telemetry.md). By default they go to the providers registered with
   * @opentelemetry/api when that package is installed (imported once per process, a second after start-up, never on
   * a token's path; nothing is loaded when it is absent). `false` turns telemetry off; `{ meterProvider,
   * tracerProvider }` uses these instead of the global ones (imported at once).
   */
  telemetry?: TelemetryOption

  /** @internal Tests inject time. */
  clock?: Clock
  /** @internal Tests inject randomness for jitter. */
  random?: () => number
}

export interface EntraAuthLogger {
  debug?(message: string, fields?: Record<string, unknown>): void
  info?(message: string, fields?: Record<string, unknown>): void
  warn?(message: string, fields?: Record<string, unknown>): void
  error?(message: string, fields?: Record<string, unknown>): void
}

export interface EntraAuth {
  /**
   * A function to hand to any driver; resolves without a network call once a token is cached. Called by
   * node-postgres (as `client.password(...)`, so by every client built on pg), it refuses with TLS_REQUIRED unless the
   * socket is TLS verified for the host connected to, and forgets a token the server refuses (28P01/28000). Called
   * by anything else (postgres.js's `pass`, your own code) it cannot see where the token goes, and returns it
   * unchecked: the adapters make those connections over verified TLS themselves.
   */
  readonly password: () => Promise<string>
  /** The current token with its expiry; concurrent callers share one request. */
  token(): Promise<AccessToken>
  /** The database user name derived from the token's claims, or a USER_NOT_DERIVABLE error listing them. */
  principal(): Promise<string>
  identity(): Promise<TokenIdentity>
  /** Fetch a new token now (one request however many callers). */
  refresh(): Promise<AccessToken>
  /** Forget `token` (the database refused it), so the next call fetches a new one. */
  invalidate(token: string): void
  stats(): EntraAuthStats
  /** For a readiness probe: whether a usable token is held, how long it has left, the last error (docs/health.md). */
  health(): Health
  on(listener: (event: EntraAuthEvent) => void): () => void
  readonly scope: string
  /** Whether tokens may travel without verified TLS (the `allowUnverifiedTls` option). */
  readonly allowUnverifiedTls: boolean
  /** Stops every timer; later calls fail with CLOSED. */
  close(): Promise<void>
}
