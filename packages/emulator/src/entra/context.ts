import type { ServerResponse } from 'node:http'
import type { CountersState, IssuedTokenRecord } from '../counters/index.js'
import { fingerprint } from '../counters/index.js'
import type { Directory } from '../directory/index.js'
import type { Principal } from '../directory/types.js'
import type { KnobsState } from '../knobs/index.js'
import { WRONG_AUDIENCE } from './constants.js'
import type { EntraKeys } from './keys.js'
import type { IssuedToken, TokenMinter } from './tokens.js'

/** What the Entra and managed-identity servers share. */
export interface EntraContext {
  tenantId: string
  directory: Directory
  minter: TokenMinter
  keys: EntraKeys
  knobs: KnobsState
  counters: CountersState
  /** the federated (service-account) issuer, known once the HTTPS server listens */
  federationIssuer(): string
  hung: Set<ServerResponse>
}

/** Azure's lifetimes when no knob sets one: managed identity tokens 24 h (refresh_in at half), others an hour. */
export function defaultLifetime(kind: Principal['kind']): { lifetimeSeconds: number; refreshInSeconds?: number } {
  if (kind === 'managedIdentity') return { lifetimeSeconds: 86_399, refreshInSeconds: 43_199 }
  return { lifetimeSeconds: 3599 }
}

export async function issueAndRecord(
  ctx: EntraContext,
  principal: Principal,
  opts: {
    via: IssuedTokenRecord['via']
    wrongAudience?: boolean
    lifetimeSeconds?: number
    appidacr?: '0' | '1' | '2'
    /** the resource as the client asked for it (a trailing slash kept, as Entra does) */
    audience?: string
  },
): Promise<IssuedToken & { refreshInSeconds?: number; lifetimeSeconds: number }> {
  const effective = ctx.knobs.effective(principal.name)
  const fallback = defaultLifetime(principal.kind)
  const lifetimeSeconds = opts.lifetimeSeconds ?? effective.tokenLifetimeSeconds ?? fallback.lifetimeSeconds
  const refreshInSeconds =
    effective.refreshInSeconds ??
    (opts.lifetimeSeconds === undefined && effective.tokenLifetimeSeconds === undefined
      ? fallback.refreshInSeconds
      : undefined)
  const audience = opts.wrongAudience ? WRONG_AUDIENCE : opts.audience
  const issued = await ctx.minter.issue(principal, {
    lifetimeSeconds,
    ...(audience ? { audience } : {}),
    ...(opts.appidacr ? { appidacr: opts.appidacr } : {}),
    ...(effective.userTokenLength ? { minLength: effective.userTokenLength } : {}),
  })
  ctx.counters.tokenIssued(principal.name, {
    tokenId: issued.tokenId,
    issuedAt: issued.issuedAt,
    expiresAt: issued.expiresAt,
    fingerprint: fingerprint(issued.token),
    via: opts.via,
  })
  return {
    ...issued,
    lifetimeSeconds,
    ...(refreshInSeconds === undefined ? {} : { refreshInSeconds }),
  }
}
