// Whether a verified token's principal may log in as a mapped role, the way Azure decides it.
import type { PgaadauthType } from '../upstream/index.js'
import type { VerifiedToken } from './types.js'

export interface RoleMapping {
  oid: string
  type: PgaadauthType
}

/** undefined when the token's principal is the role's; otherwise the precise reason, for the front's events. */
export function principalMismatch(role: string, mapping: RoleMapping, token: VerifiedToken): string | undefined {
  switch (mapping.type) {
    case 'user':
      // Azure names a user's role by UPN; pgaadauth_create_principal_with_oid may name it otherwise, then the oid counts.
      if (!token.upn) return `role "${role}" is mapped to a user, but the token (oid ${token.oid}) is not a user's`
      if (token.upn.toLowerCase() !== role.toLowerCase() && token.oid !== mapping.oid) {
        return `token upn "${token.upn}" (oid ${token.oid}) does not match role "${role}" (user oid ${mapping.oid})`
      }
      return undefined
    case 'service':
      if (token.upn)
        return `role "${role}" is mapped to a service principal, but the token is a user's ("${token.upn}")`
      if (token.oid !== mapping.oid) {
        return `token oid ${token.oid} does not match role "${role}" (service principal oid ${mapping.oid})`
      }
      return undefined
    case 'group':
      if (!token.groups?.includes(mapping.oid)) {
        return `token principal (oid ${token.oid}) is not a member of group ${mapping.oid} mapped to role "${role}"`
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
