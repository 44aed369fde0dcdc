// The contract between the PostgreSQL front and whoever checks tokens (the emulator's Entra side, or a test).
import type { UpstreamHandle } from '../upstream/index.js'

/** Checks an access token presented as a PostgreSQL password: signature, alg, aud, iss, tid, exp, nbf. */
export interface TokenVerifier {
  /** Resolves with the token's principal, or throws TokenRejected whose reason never contains the token. */
  verify(token: string): Promise<VerifiedToken>
}

export interface VerifiedToken {
  claims: Record<string, unknown>
  oid: string
  tid: string
  /** users only: upn, else unique_name, else preferred_username */
  upn?: string
  /** object ids of the groups in the token's `groups` claim */
  groups?: string[]
  /** the `uti` claim */
  tokenId: string
  /** seconds since the epoch (iat) */
  issuedAt: number
  /** seconds since the epoch (exp) */
  expiresAt: number
}

export type TokenRejectedReason =
  | 'malformed'
  | 'algorithm'
  | 'signature'
  | 'unknown-key'
  | 'audience'
  | 'issuer'
  | 'tenant'
  | 'expired'
  | 'not-yet-valid'
  | 'claims'
  | 'oid'
  | 'jwks-unavailable'

/** Thrown by a TokenVerifier. The message is precise and goes only to the front's events, never to the client. */
export class TokenRejected extends Error {
  readonly reason: TokenRejectedReason
  constructor(reason: TokenRejectedReason, message: string) {
    super(message)
    this.name = 'TokenRejected'
    this.reason = reason
  }
}

export function isTokenRejected(e: unknown): e is TokenRejected {
  return e instanceof Error && e.name === 'TokenRejected' && typeof (e as TokenRejected).reason === 'string'
}

export type FrontAuthMethod = 'token' | 'password'

export type FrontEvent =
  | {
      type: 'accepted'
      time: number
      role: string
      database: string
      method: FrontAuthMethod
      /** token connections: sha256 prefix of the token, its uti and its oid */
      tokenFingerprint?: string
      tokenId?: string
      oid?: string
    }
  | {
      type: 'rejected'
      time: number
      /** absent when the client never got as far as naming a role (no TLS, malformed packet) */
      role?: string
      database?: string
      method?: FrontAuthMethod
      /** SQLSTATE sent to the client: 28P01, 28000, 08P01, 08006, or the upstream's own (e.g. 3D000) */
      code: string
      /** the precise reason, for the emulator's log and counters only */
      reason: string
      tokenFingerprint?: string
      tokenId?: string
    }
  | { type: 'cancel'; time: number }

export interface StartPgFrontOptions {
  /** loopback only: anything else is refused */
  host: '127.0.0.1' | '::1' | 'localhost'
  /** 0 or absent: a free port */
  port?: number
  /** PEM */
  tls: { key: string; cert: string }
  upstream: UpstreamHandle
  /** where sessions (and cancel requests) go, when not straight to the upstream: PgBouncer's unix socket */
  sessionSocket?: { dir: string; port: number }
  verifier: TokenVerifier
  /** tolerance when the front re-checks a verified token's exp; default 60 */
  clockSkewSeconds?: number
  /** ms since the epoch; injectable for tests */
  now?: () => number
  /** a client that has not finished authenticating within this many ms is dropped; default 30000 */
  authenticationTimeoutMs?: number
  /** connections at once (authenticating or in session); one more is refused with 53300; default 200 */
  maxConnections?: number
  onEvent?(e: FrontEvent): void
}

export interface PgFront {
  host: string
  port: number
  /** Stops listening and ends every session, authenticated or not. */
  close(): Promise<void>
}
