// Decides whether a cleartext password lets a client in as a role: an Entra token for a mapped role, the role's own
// password otherwise. Every refusal carries Azure's text for the client and the precise reason for the front's events.
import { createHash } from 'node:crypto'
import type { UpstreamHandle } from '../upstream/index.js'
import { outsideValidity, principalMismatch } from './match-principal.js'
import { verifyPassword } from './password.js'
import { passwordFailed, type Rejection, tokenRefused } from './refusals.js'
import type { FrontAuthMethod, TokenVerifier, VerifiedToken } from './types.js'
import { isTokenRejected } from './types.js'

export type { Rejection } from './refusals.js'

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

// Three unpadded base64url segments and nothing else: Azure refuses a token with a trailing space, newline, tab or
// `=` that lenient base64 decoders accept.
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

export async function checkCredentials(
  deps: { upstream: UpstreamHandle; verifier: TokenVerifier; nowSeconds: number; clockSkewSeconds: number },
  role: string,
  password: string,
): Promise<CredentialCheck> {
  const mapping = await deps.upstream.lookupMapping(role)
  if (password.length === 0) {
    return {
      method: mapping ? 'token' : 'password',
      rejection: passwordFailed(role, 'empty password returned by client'),
    }
  }
  if (!mapping) {
    const verifier = await deps.upstream.passwordVerifier(role)
    if (!verifier) {
      return {
        method: 'password',
        rejection: passwordFailed(role, `role "${role}" has no Entra mapping and no valid password`),
      }
    }
    if (!(await verifyPassword(verifier, role, password))) {
      return { method: 'password', rejection: passwordFailed(role, 'password does not match') }
    }
    return { method: 'password' }
  }
  const fingerprint = tokenFingerprint(password)
  if (!COMPACT_JWS.test(password)) {
    return { method: 'token', fingerprint, rejection: tokenRefused('malformed', describeShape(password)) }
  }
  let token: VerifiedToken
  try {
    token = await deps.verifier.verify(password)
  } catch (e) {
    // a verifier must never put the token in its message; should one do so, the events still do not carry it
    const rejection = isTokenRejected(e)
      ? tokenRefused(e.reason, e.message.replaceAll(password, fingerprint))
      : tokenRefused(
          'jwks-unavailable',
          `verification failed: ${e instanceof Error ? `${e.name}: ${e.message}` : 'unknown error'}`.replaceAll(
            password,
            fingerprint,
          ),
        )
    return { method: 'token', fingerprint, rejection }
  }
  const expired = outsideValidity(token, deps.nowSeconds, deps.clockSkewSeconds)
  if (expired) return { method: 'token', token, fingerprint, rejection: tokenRefused('expired', expired) }
  const mismatch = principalMismatch(role, mapping, token)
  if (mismatch) return { method: 'token', token, fingerprint, rejection: mismatch }
  return { method: 'token', token, fingerprint }
}

/** Why a password is not a compact JWS, without any of its content. */
function describeShape(password: string): string {
  const segments = password.split('.').length
  const odd = password.match(/[^A-Za-z0-9_.-]/)?.[0]
  if (odd !== undefined) {
    const code = odd.codePointAt(0)?.toString(16).padStart(4, '0')
    return `not base64url: the token holds U+${code} (${password.length} characters)`
  }
  return `not a compact JWS: ${segments} segment(s), ${password.length} characters`
}
