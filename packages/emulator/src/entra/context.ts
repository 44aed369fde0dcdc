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

export async function issueAndRecord(
  ctx: EntraContext,
  principal: Principal,
  opts: {
    via: IssuedTokenRecord['via']
    wrongAudience?: boolean
    lifetimeSeconds?: number
    appidacr?: '0' | '1' | '2'
  },
): Promise<IssuedToken & { refreshInSeconds?: number; lifetimeSeconds: number }> {
  const effective = ctx.knobs.effective(principal.name)
  const lifetimeSeconds = opts.lifetimeSeconds ?? effective.tokenLifetimeSeconds
  const issued = await ctx.minter.issue(principal, {
    lifetimeSeconds,
    ...(opts.wrongAudience ? { audience: WRONG_AUDIENCE } : {}),
    ...(opts.appidacr ? { appidacr: opts.appidacr } : {}),
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
    ...(effective.refreshInSeconds === undefined ? {} : { refreshInSeconds: effective.refreshInSeconds }),
  }
}
