// The check entraAuth applies to every token a store hands back, built from the identity's options (and, for
// identities the options do not name, from the tokens it fetched itself).
import { describe, expect, it } from 'vitest'
import { storedTokenCheck } from '../../src/auth/stored-token-check.js'
import type { StoredToken } from '../../src/cache/token-store.js'
import { planCredential } from '../../src/identity/credential.js'
import type { AccessToken } from '../../src/shared/access-token.js'
import { fakeJwt } from './_jwt.js'

const SCOPE = 'https://ossrdbms-aad.database.windows.net/.default'
const AUD = 'https://ossrdbms-aad.database.windows.net'
const TENANT = '11111111-1111-4111-8111-111111111111'
const OTHER_TENANT = '22222222-2222-4222-8222-222222222222'
const CLIENT = '33333333-3333-4333-8333-333333333333'
const OTHER_CLIENT = '44444444-4444-4444-8444-444444444444'
const OID = '55555555-5555-4555-8555-555555555555'
const OTHER_OID = '66666666-6666-4666-8666-666666666666'
const NOW = Date.UTC(2026, 11, 1, 12)
const HOUR = 3_600_000
const redis = { now: NOW, storeKind: 'redis' }

function entry(claims: Record<string, unknown>, overrides: Partial<StoredToken> = {}): StoredToken {
  const expiresOnTimestamp = overrides.expiresOnTimestamp ?? NOW + HOUR
  const token = fakeJwt({ aud: AUD, tid: TENANT, appid: CLIENT, oid: OID, exp: expiresOnTimestamp / 1000, ...claims })
  return { key: 'k', token, expiresOnTimestamp, fetchedAt: NOW - 60_000, ...overrides }
}

const servicePrincipal = () =>
  storedTokenCheck(planCredential({ tenantId: TENANT, clientId: CLIENT, clientSecret: 'not-used-here' }, {}), SCOPE)

describe('storedTokenCheck', () => {
  it("accepts a service principal's own token, in any case of its ids", () => {
    expect(servicePrincipal().check(entry({}), redis)).toBeUndefined()
    expect(servicePrincipal().check(entry({ tid: TENANT.toUpperCase(), appid: undefined, azp: CLIENT }), redis)).toBe(
      undefined,
    )
  })

  it.each([
    ['another client', { appid: OTHER_CLIENT }, /client .*appid 4444/],
    ['no client', { appid: undefined }, /appid missing/],
    ['another tenant', { tid: OTHER_TENANT }, /tenant .*tid 2222/],
    ['another audience', { aud: 'https://management.azure.com' }, /audience https:\/\/management\.azure\.com/],
    ['no audience', { aud: undefined }, /no aud/],
    ['no exp', { exp: undefined }, /no exp/],
    ['an exp far from the stored expiry', { exp: (NOW + 3 * HOUR) / 1000 }, /exp claim does not match/],
    ['a future nbf', { nbf: (NOW + HOUR / 2) / 1000 }, /nbf/],
  ])('refuses a service principal entry with %s', (_what, claims, reason) => {
    expect(servicePrincipal().check(entry(claims), redis)).toMatch(reason)
  })

  it('refuses an expiry more than 24 h away and a fetchedAt in the future', () => {
    const far = NOW + 25 * HOUR
    expect(servicePrincipal().check(entry({}, { expiresOnTimestamp: far }), redis)).toMatch(/24 hours/)
    expect(servicePrincipal().check(entry({}, { fetchedAt: NOW + HOUR }), redis)).toMatch(/future/)
    expect(servicePrincipal().check(entry({}, { fetchedAt: NOW + 60_000 }), redis)).toBeUndefined() // clock skew
  })

  it('refuses a token that is not a JWT from a shared store, and takes it from memory', () => {
    const opaque = { key: 'k', token: 'opaque-token', expiresOnTimestamp: NOW + HOUR, fetchedAt: NOW }
    expect(servicePrincipal().check(opaque, redis)).toMatch(/not a JWT/)
    expect(servicePrincipal().check(opaque, { now: NOW, storeKind: 'file' })).toMatch(/not a JWT/)
    expect(servicePrincipal().check(opaque, { now: NOW, storeKind: 'memory' })).toBeUndefined()
  })

  it('does not compare tid with a tenant given as a domain name', () => {
    const byDomain = storedTokenCheck(
      planCredential({ tenantId: 'contoso.onmicrosoft.com', clientId: CLIENT, clientSecret: 'x' }, {}),
      SCOPE,
    )
    expect(byDomain.check(entry({ tid: OTHER_TENANT }), redis)).toBeUndefined()
    expect(byDomain.check(entry({ appid: OTHER_CLIENT }), redis)).toMatch(/client/)
  })

  it("holds a user-assigned managed identity's token to its client id, object id or resource id", () => {
    const resourceId =
      '/subscriptions/s/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app'
    const byClient = storedTokenCheck(planCredential({ managedIdentity: { clientId: CLIENT } }, {}), SCOPE)
    expect(byClient.check(entry({ tid: OTHER_TENANT }), redis)).toBeUndefined()
    expect(byClient.check(entry({ appid: OTHER_CLIENT }), redis)).toMatch(/client/)
    const byObject = storedTokenCheck(planCredential({ managedIdentity: { objectId: OID } }, {}), SCOPE)
    expect(byObject.check(entry({}), redis)).toBeUndefined()
    expect(byObject.check(entry({ oid: OTHER_OID }), redis)).toMatch(/object id/)
    const byResource = storedTokenCheck(planCredential({ managedIdentity: { resourceId } }, {}), SCOPE)
    expect(byResource.check(entry({ xms_mirid: resourceId.toLowerCase() }), redis)).toBeUndefined()
    expect(byResource.check(entry({ xms_mirid: `${resourceId}-other` }), redis)).toMatch(/xms_mirid/)
  })

  it('pins a given credential, DefaultAzureCredential or system-assigned identity to the identity it fetched for', async () => {
    const credential = { getToken: async () => null }
    for (const plan of [
      planCredential({ credential }, {}),
      planCredential({}, {}),
      planCredential({ managedIdentity: true }, {}),
    ]) {
      const check = storedTokenCheck(plan, SCOPE)
      // Before any fetch only the audience, the expiry and the shape can be judged.
      expect(check.check(entry({ oid: OTHER_OID, tid: OTHER_TENANT, appid: OTHER_CLIENT }), redis)).toBeUndefined()
      expect(check.check(entry({ aud: 'https://vault.azure.net' }), redis)).toMatch(/audience/)
      const own: AccessToken = entry({}) // what the credential returned to this EntraAuth
      const fetch = check.pinning(async () => own)
      expect(await fetch()).toBe(own)
      expect(check.check(entry({ appid: OTHER_CLIENT }), redis)).toBeUndefined()
      expect(check.check(entry({ oid: OTHER_OID }), redis)).toMatch(/the identity this process fetched tokens for/)
      expect(check.check(entry({ tid: OTHER_TENANT }), redis)).toMatch(/tenant/)
    }
  })

  it('learns nothing from a fetch that fails or returns no JWT', async () => {
    const check = storedTokenCheck(planCredential({ managedIdentity: true }, {}), SCOPE)
    await expect(check.pinning(async () => Promise.reject(new Error('down')))()).rejects.toThrow('down')
    await check.pinning(async () => ({ token: 'opaque', expiresOnTimestamp: NOW + HOUR }))()
    expect(check.check(entry({ oid: OTHER_OID }), redis)).toBeUndefined()
  })
})
