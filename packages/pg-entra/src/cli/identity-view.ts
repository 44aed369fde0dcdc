import type { TokenIdentity } from '../auth/types.js'

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
  }
}

const quote = (value: string) => `'${value.replaceAll("'", "''")}'`

/**
 * The statement an Entra admin runs in the `postgres` database on Azure to create the role this identity connects as.
 * Users and managed identities can be found by name; a service principal's token carries no name, so its role is
 * bound to its object id.
 */
export function createRoleSql(identity: TokenIdentity, role: string | undefined): string | undefined {
  const name = role ?? identity.databaseUser
  if (identity.kind === 'user' && name) return `select * from pgaadauth_create_principal(${quote(name)}, false, false);`
  if (!identity.objectId) return undefined
  const type = identity.kind === 'user' ? 'user' : 'service'
  return `select * from pgaadauth_create_principal_with_oid(${quote(name ?? '<role name>')}, ${quote(identity.objectId)}, ${quote(type)}, false, false);`
}
