import type { StoredToken } from '../cache/token-store.js'
import { audienceMatches } from '../identity/audience.js'
import { type Claims, decodeJwtPayload } from '../identity/claims.js'
import type { CredentialPlan } from '../identity/credential.js'
import type { AccessToken } from '../shared/access-token.js'
import type { StoredTokenContext } from '../token/token-source.js'

/** How far a JWT's `exp` may be from the expiry the entry records (clock skew between hosts, request latency). */
export const EXPIRY_TOLERANCE_MS = 5 * 60_000
/** Entra issues no token for this resource living longer than a managed identity's 24 h. */
export const MAX_LIFETIME_MS = 24 * 3_600_000 + EXPIRY_TOLERANCE_MS
/** How far in the future `fetchedAt` or `nbf` may be (another host's clock). */
export const CLOCK_SKEW_MS = 5 * 60_000

const guidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** What the identity's options say the token's claims must be, known before any token is fetched. */
interface Expected {
  tenantId?: string
  clientId?: string
  objectId?: string
  resourceId?: string
}

export interface StoredTokenCheck {
  /** A reason to refuse `stored` (never the token), or undefined to use it. */
  check(stored: StoredToken, context: StoredTokenContext): string | undefined
  /** Wraps the credential call so that the identity of the tokens this EntraAuth fetches itself is remembered. */
  pinning<A extends unknown[]>(fetch: (...args: A) => Promise<AccessToken>): (...args: A) => Promise<AccessToken>
}

/**
 * A store hands back whatever was written under a key; a token is used only when its claims fit the identity that
 * asked. Known from the options: the tenant, the client (service principal, workload identity, user-assigned managed
 * identity by client id), the managed identity's object or resource id, and the audience of the scope. Learnt from
 * this EntraAuth's own fetches: the object id and tenant of the identity (for a given credential,
 * DefaultAzureCredential or a system-assigned identity, only that tells who it is). Expiry must also be sane.
 */
export function storedTokenCheck(plan: CredentialPlan, scope: string): StoredTokenCheck {
  const expected = expectedClaims(plan)
  let pinned: { objectId: string | undefined; tenantId: string | undefined } | undefined

  function check(stored: StoredToken, { now, storeKind }: StoredTokenContext): string | undefined {
    if (stored.expiresOnTimestamp > now + MAX_LIFETIME_MS) return 'its expiry is more than 24 hours away'
    if (stored.fetchedAt > now + CLOCK_SKEW_MS) return 'it was fetched in the future'
    let claims: Claims
    try {
      claims = decodeJwtPayload(stored.token)
    } catch {
      // This process's own memory may hold what a custom credential returned; a shared store must hold a JWT.
      return storeKind === 'memory' ? undefined : 'it is not a JWT'
    }
    return claimsMismatch(claims, stored, now)
  }

  function claimsMismatch(claims: Claims, stored: StoredToken, now: number): string | undefined {
    if (typeof claims.exp !== 'number') return 'it has no exp claim'
    if (Math.abs(claims.exp * 1000 - stored.expiresOnTimestamp) > EXPIRY_TOLERANCE_MS) {
      return 'its exp claim does not match the expiry stored with it'
    }
    if (typeof claims.nbf === 'number' && claims.nbf * 1000 > now + CLOCK_SKEW_MS) return 'it is not valid yet (nbf)'
    if (claims.aud === undefined) return 'it has no aud claim'
    if (!audienceMatches(claims.aud, scope)) return `its audience ${describe(claims.aud)} is not the scope's resource`
    const tid = text(claims.tid)
    const tenantId = expected.tenantId ?? pinned?.tenantId
    if (tenantId && !same(tid, tenantId)) return `its tenant (tid ${tid ?? 'missing'}) is not ${tenantId}`
    if (expected.clientId) {
      const appId = text(claims.appid) ?? text(claims.azp)
      if (!same(appId, expected.clientId)) return `its client (appid ${appId ?? 'missing'}) is not ${expected.clientId}`
    }
    const oid = text(claims.oid)
    if (expected.objectId && !same(oid, expected.objectId)) {
      return `its object id (oid ${oid ?? 'missing'}) is not ${expected.objectId}`
    }
    if (expected.resourceId && !same(text(claims.xms_mirid), expected.resourceId)) {
      return `its managed identity (xms_mirid) is not ${expected.resourceId}`
    }
    if (pinned?.objectId && !same(oid, pinned.objectId)) {
      return `its object id (oid ${oid ?? 'missing'}) is not ${pinned.objectId}, the identity this process fetched tokens for`
    }
    return undefined
  }

  function remember(token: AccessToken): void {
    let claims: Claims
    try {
      claims = decodeJwtPayload(token.token)
    } catch {
      return
    }
    const objectId = text(claims.oid)
    if (objectId) pinned = { objectId, tenantId: text(claims.tid) }
  }

  return {
    check,
    pinning:
      (fetch) =>
      async (...args) => {
        const token = await fetch(...args)
        remember(token)
        return token
      },
  }
}

function expectedClaims(plan: CredentialPlan): Expected {
  switch (plan.kind) {
    case 'clientSecret':
    case 'clientCertificate':
    case 'workloadIdentity':
      // A tenant given as a domain name cannot be compared with `tid` (a GUID) here.
      return { clientId: plan.clientId, ...(guidPattern.test(plan.tenantId) ? { tenantId: plan.tenantId } : {}) }
    case 'managedIdentity': {
      const assigned = plan.userAssigned
      if (!assigned) return {}
      if ('clientId' in assigned) return { clientId: assigned.clientId }
      if ('objectId' in assigned) return { objectId: assigned.objectId }
      return { resourceId: assigned.resourceId }
    }
    case 'given':
    case 'default':
      return {}
  }
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined
}

function same(value: string | undefined, expected: string): boolean {
  return value !== undefined && value.toLowerCase() === expected.toLowerCase()
}

function describe(aud: unknown): string {
  return (Array.isArray(aud) ? aud : [aud]).map(String).join(', ')
}
