/** The identity behind a token, read from its claims (the token itself is not verified here). */
export interface TokenIdentity {
  kind: 'user' | 'servicePrincipal' | 'managedIdentity' | 'unknown'
  /** The database role name to connect as, when derivable. */
  databaseUser: string | undefined
  displayName: string | undefined
  objectId: string | undefined
  tenantId: string | undefined
  appId: string | undefined
  upn: string | undefined
  managedIdentityResourceId: string | undefined
  audience: string | undefined
  issuer: string | undefined
  expiresOn: number | undefined
  /** Object ids in the token's `groups` claim: a member may connect as a group's role with its own token. */
  groups: string[]
}
