import type { TokenIdentity } from '../shared/identity.js'

export const quoteLiteral = (value: string): string => `'${value.replaceAll("'", "''")}'`

/**
 * The statement an Entra admin runs in the `postgres` database on Azure to create the role this identity connects as.
 * Users and managed identities can be found by name; a service principal's token carries no name, so its role is
 * bound to its object id.
 */
export function createRoleSql(identity: TokenIdentity, role: string | undefined): string | undefined {
  const name = role ?? identity.databaseUser
  if (identity.kind === 'user' && name)
    return `select * from pgaadauth_create_principal(${quoteLiteral(name)}, false, false);`
  if (!identity.objectId) return undefined
  const type = identity.kind === 'user' ? 'user' : 'service'
  return `select * from pgaadauth_create_principal_with_oid(${quoteLiteral(name ?? '<role name>')}, ${quoteLiteral(identity.objectId)}, ${quoteLiteral(type)}, false, false);`
}
