import { PgEntraError } from '../errors/pg-entra-error.js'
import type { TokenIdentity } from '../shared/identity.js'

export type Claims = Record<string, unknown>

/** The payload of a JWT, decoded without verifying it (the database verifies it; we only read names from it). */
export function decodeJwtPayload(token: string): Claims {
  const parts = token.split('.')
  if (parts.length !== 3 || !parts[1]) {
    throw new PgEntraError('TOKEN_UNAVAILABLE', 'the access token is not a JWT (expected three dot-separated parts)', {
      hint: 'the credential returned something other than an Entra access token; check the credential and scope',
    })
  }
  try {
    const payload: unknown = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'))
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) throw new Error('not an object')
    return payload as Claims
  } catch {
    throw new PgEntraError('TOKEN_UNAVAILABLE', 'the access token payload is not JSON', {
      hint: 'the credential returned something other than an Entra access token; check the credential and scope',
    })
  }
}

const userNameClaims = ['upn', 'unique_name', 'preferred_username'] as const

function text(claims: Claims, name: string): string | undefined {
  const value = claims[name]
  return typeof value === 'string' && value !== '' ? value : undefined
}

function seconds(claims: Claims, name: string): number | undefined {
  const value = claims[name]
  return typeof value === 'number' && Number.isFinite(value) ? value * 1000 : undefined
}

/** Who a token's claims say it belongs to, and the database role that identity connects as when it can be named. */
export function identityFromClaims(claims: Claims): TokenIdentity {
  const managedIdentityResourceId = text(claims, 'xms_mirid')
  const upn = userNameClaims.map((name) => text(claims, name)).find((value) => value !== undefined)
  const appId = text(claims, 'appid') ?? text(claims, 'azp')
  const idtyp = text(claims, 'idtyp')
  let kind: TokenIdentity['kind'] = 'unknown'
  let databaseUser: string | undefined
  if (managedIdentityResourceId) {
    kind = 'managedIdentity'
    databaseUser = managedIdentityResourceId.split('/').filter(Boolean).at(-1)
  } else if (idtyp === 'user' || upn !== undefined) {
    kind = 'user'
    databaseUser = upn
  } else if (idtyp === 'app' || appId !== undefined) {
    kind = 'servicePrincipal'
  }
  return {
    kind,
    databaseUser,
    displayName: text(claims, 'name') ?? upn ?? databaseUser,
    objectId: text(claims, 'oid'),
    tenantId: text(claims, 'tid'),
    appId,
    upn,
    managedIdentityResourceId,
    audience: Array.isArray(claims.aud)
      ? claims.aud.filter((a) => typeof a === 'string').join(' ')
      : text(claims, 'aud'),
    issuer: text(claims, 'iss'),
    expiresOn: seconds(claims, 'exp'),
    groups: Array.isArray(claims.groups) ? claims.groups.filter((g): g is string => typeof g === 'string') : [],
  }
}

/** Claims whose names (and values) help someone see why no user was derived; values of these are not secrets. */
const describedClaims = ['idtyp', 'oid', 'appid', 'azp', 'tid', 'upn', 'unique_name', 'preferred_username', 'xms_mirid']

/** The database user for `identity`, or USER_NOT_DERIVABLE listing the claims found and what to set. */
export function databaseUserOf(identity: TokenIdentity, claims: Claims): string {
  if (identity.databaseUser) return identity.databaseUser
  const found = Object.keys(claims).sort()
  const facts = describedClaims
    .filter((name) => typeof claims[name] === 'string')
    .map((name) => `${name}=${String(claims[name])}`)
  const what =
    identity.kind === 'servicePrincipal'
      ? 'a service principal token carries no name (only appid/oid)'
      : 'the token has none of upn, unique_name, preferred_username or xms_mirid'
  throw new PgEntraError(
    'USER_NOT_DERIVABLE',
    `cannot derive the database user from the token: ${what}; claims found: ${found.join(', ')}${facts.length > 0 ? ` (${facts.join(', ')})` : ''}`,
    {
      hint:
        'set the user explicitly (pg `user`, PGUSER, or the connection string) to the role created for this principal' +
        (identity.objectId
          ? `, e.g. select * from pgaadauth_create_principal_with_oid('<role>', '${identity.objectId}', 'service', false, false);`
          : ''),
      details: { kind: identity.kind, objectId: identity.objectId, appId: identity.appId },
    },
  )
}
