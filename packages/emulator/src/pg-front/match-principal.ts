// Whether a verified token's principal may log in as a mapped role, the way Azure decides it: users, service
// principals and managed identities by object id (never by name), groups by membership, and isMfa by `amr`.
import type { RoleMapping } from '../upstream/index.js'
import {
  appTokenForUserRole,
  mfaRequired,
  passwordFailed,
  type Rejection,
  userTokenForServiceRole,
} from './refusals.js'
import type { VerifiedToken } from './types.js'

export type { RoleMapping } from '../upstream/index.js'

/** 'app' for service principals and managed identities (idtyp app, or no user claims), 'user' otherwise. */
export function tokenKind(token: VerifiedToken): 'app' | 'user' {
  const idtyp = token.claims.idtyp
  if (idtyp === 'app') return 'app'
  if (idtyp === 'user') return 'user'
  return token.upn || typeof token.claims.scp === 'string' ? 'user' : 'app'
}

function hasMfa(token: VerifiedToken): boolean {
  const amr = token.claims.amr
  return Array.isArray(amr) && amr.includes('mfa')
}

/** undefined when the token's principal is the role's; otherwise the refusal, with the precise reason. */
export function principalMismatch(role: string, mapping: RoleMapping, token: VerifiedToken): Rejection | undefined {
  const kind = tokenKind(token)
  const mismatch = checkPrincipal(role, mapping, token, kind)
  if (mismatch) return mismatch
  if (mapping.isMfa && !hasMfa(token)) {
    return mfaRequired(
      role,
      `role "${role}" requires MFA; the token's amr (${JSON.stringify(token.claims.amr ?? null)}) has no mfa`,
    )
  }
  return undefined
}

function checkPrincipal(
  role: string,
  mapping: RoleMapping,
  token: VerifiedToken,
  kind: 'app' | 'user',
): Rejection | undefined {
  switch (mapping.type) {
    case 'user':
      if (kind === 'app') {
        return appTokenForUserRole(
          role,
          `role "${role}" is mapped to a user, but the token (oid ${token.oid}) is an app's`,
        )
      }
      if (token.oid !== mapping.oid) {
        const name = token.upn ? ` upn "${token.upn}"` : ''
        return passwordFailed(role, `token${name} oid ${token.oid} is not role "${role}"'s user (oid ${mapping.oid})`)
      }
      return undefined
    case 'service':
      if (kind === 'user') {
        return userTokenForServiceRole(
          role,
          `role "${role}" is mapped to a service principal, but the token is a user's (oid ${token.oid})`,
        )
      }
      if (token.oid !== mapping.oid) {
        return passwordFailed(
          role,
          `token oid ${token.oid} does not match role "${role}" (service principal oid ${mapping.oid})`,
        )
      }
      return undefined
    case 'group':
      if (!token.groups?.includes(mapping.oid)) {
        return passwordFailed(
          role,
          `token principal (oid ${token.oid}) is not a member of group ${mapping.oid} mapped to role "${role}"`,
        )
      }
      return undefined
  }
}

/** undefined while the token is within its validity window (with skew); otherwise why not. */
export function outsideValidity(token: VerifiedToken, nowSeconds: number, skewSeconds: number): string | undefined {
  if (token.expiresAt + skewSeconds < nowSeconds)
    return `token expired at ${new Date(token.expiresAt * 1000).toISOString()}`
  return undefined
}
