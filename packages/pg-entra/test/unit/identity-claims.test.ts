import { describe, expect, it } from 'vitest'
import { isPgEntraError, type PgEntraError } from '../../src/errors/pg-entra-error.js'
import { databaseUserOf, decodeJwtPayload, identityFromClaims } from '../../src/identity/claims.js'
import { fakeJwt } from './_jwt.js'

function thrown(fn: () => unknown): PgEntraError {
  try {
    fn()
  } catch (error) {
    if (isPgEntraError(error)) return error
    throw error
  }
  throw new Error('expected a PgEntraError')
}

describe('claims', () => {
  it('decodes a JWT payload without verifying it', () => {
    expect(decodeJwtPayload(fakeJwt({ oid: 'o1', exp: 10 }))).toEqual({ oid: 'o1', exp: 10 })
    expect(thrown(() => decodeJwtPayload('not-a-jwt')).code).toBe('TOKEN_UNAVAILABLE')
    expect(thrown(() => decodeJwtPayload('a.bm90IGpzb24.c')).code).toBe('TOKEN_UNAVAILABLE')
  })

  it('names a user by upn, then unique_name, then preferred_username', () => {
    const user = identityFromClaims({
      idtyp: 'user',
      upn: 'ada@contoso.com',
      unique_name: 'x',
      oid: 'o',
      tid: 't',
      exp: 100,
    })
    expect(user).toMatchObject({
      kind: 'user',
      databaseUser: 'ada@contoso.com',
      objectId: 'o',
      tenantId: 't',
      expiresOn: 100_000,
    })
    expect(identityFromClaims({ unique_name: 'bob@contoso.com' }).databaseUser).toBe('bob@contoso.com')
    expect(identityFromClaims({ preferred_username: 'eve@contoso.com' }).databaseUser).toBe('eve@contoso.com')
  })

  it('names a managed identity by the last segment of xms_mirid', () => {
    const ua = identityFromClaims({
      idtyp: 'app',
      appid: 'a',
      oid: 'o',
      xms_mirid:
        '/subscriptions/s/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/orders-api',
    })
    expect(ua).toMatchObject({ kind: 'managedIdentity', databaseUser: 'orders-api' })
    const sa = identityFromClaims({
      xms_mirid: '/subscriptions/s/resourcegroups/rg/providers/Microsoft.Web/sites/shop/',
    })
    expect(sa.databaseUser).toBe('shop')
  })

  it('refuses to name a service principal, listing the claims found and what to set', () => {
    const claims = { idtyp: 'app', appid: 'app-1', oid: 'oid-1', tid: 'tenant-1', aud: 'x', exp: 1 }
    const identity = identityFromClaims(claims)
    expect(identity.kind).toBe('servicePrincipal')
    const error = thrown(() => databaseUserOf(identity, claims))
    expect(error.code).toBe('USER_NOT_DERIVABLE')
    expect(error.message).toContain('claims found: appid, aud, exp, idtyp, oid, tid')
    expect(error.message).toContain('appid=app-1')
    expect(error.hint).toContain('PGUSER')
    expect(error.hint).toContain("pgaadauth_create_principal_with_oid('<role>', 'oid-1', 'service', false, false)")
  })
})
