// Decides whether a cleartext password lets a client in as a role: an Entra token for a mapped role, the role's own
// password otherwise. Every refusal carries the precise reason for the front's events; the client only ever sees 28P01.
import { createHash } from 'node:crypto'
import type { UpstreamHandle } from '../upstream/index.js'
import { outsideValidity, principalMismatch } from './match-principal.js'
import { verifyPassword } from './password.js'
import type { FrontAuthMethod, TokenVerifier, VerifiedToken } from './types.js'
import { isTokenRejected } from './types.js'

export interface Rejection {
  /** SQLSTATE for the client */
  code: string
  /** what the client is told */
  message: string
  /** what the events say */
  reason: string
}

export interface CredentialCheck {
  method: FrontAuthMethod
  token?: VerifiedToken
  fingerprint?: string
  rejection?: Rejection
}

/** A short, non-reversible name for a token in events and logs. */
export function tokenFingerprint(token: string): string {
  return `sha256:${createHash('sha256').update(token).digest('hex').slice(0, 12)}`
}

export async function checkCredentials(
  deps: { upstream: UpstreamHandle; verifier: TokenVerifier; nowSeconds: number; clockSkewSeconds: number },
  role: string,
  password: string,
): Promise<CredentialCheck> {
  const refused = (reason: string): Rejection => ({
    code: '28P01',
    message: `password authentication failed for user "${role}"`,
    reason,
  })
  const mapping = await deps.upstream.lookupMapping(role)
  if (!mapping) {
    if (password.length === 0) return { method: 'password', rejection: refused('empty password') }
    const verifier = await deps.upstream.passwordVerifier(role)
    if (!verifier) {
      return { method: 'password', rejection: refused(`role "${role}" has no Entra mapping and no valid password`) }
    }
    if (!(await verifyPassword(verifier, role, password))) {
      return { method: 'password', rejection: refused('password does not match') }
    }
    return { method: 'password' }
  }
  const fingerprint = tokenFingerprint(password)
  let token: VerifiedToken
  try {
    token = await deps.verifier.verify(password)
  } catch (e) {
    const reason = isTokenRejected(e)
      ? `token rejected (${e.reason}): ${e.message}`
      : `token verification failed: ${e instanceof Error ? `${e.name}: ${e.message}` : 'unknown error'}`
    // a verifier must never put the token in its message; should one do so, the events still do not carry it
    return { method: 'token', fingerprint, rejection: refused(reason.replaceAll(password, fingerprint)) }
  }
  const invalid =
    outsideValidity(token, deps.nowSeconds, deps.clockSkewSeconds) ?? principalMismatch(role, mapping, token)
  if (invalid) return { method: 'token', token, fingerprint, rejection: refused(invalid) }
  return { method: 'token', token, fingerprint }
}
