import type { TokenIdentity } from '../auth/types.js'

export { createRoleSql } from '../identity/role-statement.js'

export const kindLabels: Record<TokenIdentity['kind'], string> = {
  user: 'user',
  servicePrincipal: 'service principal',
  managedIdentity: 'managed identity',
  unknown: 'unknown',
}

/** The identity as printed by --json: every field, absent ones as null, times as ISO strings. */
export function identityJson(identity: TokenIdentity) {
  return {
    kind: identity.kind,
    databaseUser: identity.databaseUser ?? null,
    displayName: identity.displayName ?? null,
    objectId: identity.objectId ?? null,
    tenantId: identity.tenantId ?? null,
    appId: identity.appId ?? null,
    upn: identity.upn ?? null,
    managedIdentityResourceId: identity.managedIdentityResourceId ?? null,
    audience: identity.audience ?? null,
    issuer: identity.issuer ?? null,
    expiresOn: identity.expiresOn === undefined ? null : new Date(identity.expiresOn).toISOString(),
    groups: identity.groups,
  }
}

/** The token's groups for one line: how many, and the first few object ids. */
export function groupsLine(identity: TokenIdentity, shown = 3): string | undefined {
  const { groups } = identity
  if (groups.length === 0) return undefined
  const more = groups.length > shown ? `, +${groups.length - shown} more` : ''
  return `${groups.length} (${groups.slice(0, shown).join(', ')}${more})`
}
