// Access tokens shaped like the v1 tokens Entra issues for Azure Database for PostgreSQL.
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto'
import { SignJWT } from 'jose'
import type { Directory } from '../directory/index.js'
import type { Principal } from '../directory/types.js'
import { AZURE_CLI_APP_ID, OSSRDBMS_RESOURCE, v1Issuer } from './constants.js'
import type { EntraKeys } from './keys.js'

export interface MintOptions {
  lifetimeSeconds?: number
  /** nbf = now + this; default 0 */
  notBeforeSeconds?: number
  audience?: string
  issuer?: string
  /** the tid claim and the tenant in the default issuer */
  tenantId?: string
  key?: 'emulator' | 'foreign'
  kid?: string
  alg?: 'RS256' | 'none' | 'HS256-with-public-key'
}

export interface IssuedToken {
  token: string
  tokenId: string
  issuedAt: number
  expiresAt: number
}

export interface TokenMinter {
  /** a token as Entra would issue it to this principal */
  issue(
    principal: Principal,
    opts: {
      lifetimeSeconds: number
      audience?: string
      appidacr?: '0' | '1' | '2'
      /** users: pad the groups claim until the token is at least this long */
      minLength?: number
    },
  ): Promise<IssuedToken>
  /** any claims, any defects: for negative tests */
  mint(claims: Record<string, unknown>, opts: MintOptions & { lifetimeSeconds: number }): Promise<IssuedToken>
}

const b64url = (n: number) => randomBytes(n).toString('base64url')
const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

/** A stable pairwise `sub` for a user, like Entra's (per app, opaque). */
function pairwiseSub(oid: string): string {
  return createHash('sha256').update(`sub:${oid}`).digest('base64url').slice(0, 43)
}

export function createTokenMinter(deps: {
  tenantId: string
  authorityHost: () => string
  keys: EntraKeys
  directory: Directory
  now?: () => number
}): TokenMinter {
  const nowSeconds = () => Math.floor((deps.now ?? Date.now)() / 1000)

  function principalClaims(principal: Principal, appidacr: '0' | '1' | '2'): Record<string, unknown> {
    const groups = deps.directory.resolveGroups(principal.groups)
    const common = {
      aio: b64url(40),
      idp: v1Issuer(principal.tenantId),
      oid: principal.objectId,
      rh: `${b64url(24)}.`,
      tid: principal.tenantId,
      ...(groups.length > 0 ? { groups } : {}),
    }
    if (principal.kind === 'user') {
      const upn = principal.upn ?? principal.name
      const given = upn.split('@')[0] ?? upn
      return {
        ...common,
        acr: '1',
        amr: principal.mfa ? ['pwd', 'mfa'] : ['pwd'],
        appid: AZURE_CLI_APP_ID,
        appidacr: '0',
        idtyp: 'user',
        ipaddr: '127.0.0.1',
        name: given,
        scp: 'user_impersonation',
        sub: pairwiseSub(principal.objectId),
        unique_name: upn,
        upn,
      }
    }
    return {
      ...common,
      appid: principal.appId ?? principal.clientId,
      appidacr,
      idtyp: 'app',
      sub: principal.objectId,
      ...(principal.resourceId ? { xms_mirid: principal.resourceId } : {}),
    }
  }

  async function sign(
    claims: Record<string, unknown>,
    opts: MintOptions & { lifetimeSeconds: number },
  ): Promise<IssuedToken> {
    const now = nowSeconds()
    const tenantId = opts.tenantId ?? deps.tenantId
    const expiresAt = now + Math.round(opts.lifetimeSeconds)
    // an already expired token (negative lifetime) was issued a minute before it expired
    const issuedAt = expiresAt > now ? now : expiresAt - 60
    const tokenId = b64url(16)
    const payload: Record<string, unknown> = {
      aud: opts.audience ?? OSSRDBMS_RESOURCE,
      iss: opts.issuer ?? v1Issuer(tenantId),
      iat: issuedAt,
      nbf: issuedAt + Math.round(opts.notBeforeSeconds ?? 0),
      exp: expiresAt,
      tid: tenantId,
      uti: tokenId,
      ver: '1.0',
      ...claims,
    }
    const signing = opts.key === 'foreign' ? await deps.keys.foreign() : deps.keys.signing
    const kid = opts.kid ?? deps.keys.signing.kid
    const finalTokenId = typeof payload.uti === 'string' ? payload.uti : tokenId
    const result = (token: string) => ({ token, tokenId: finalTokenId, issuedAt, expiresAt })
    if (opts.alg === 'none') {
      return result(`${encode({ typ: 'JWT', alg: 'none', kid })}.${encode(payload)}.`)
    }
    if (opts.alg === 'HS256-with-public-key') {
      const input = `${encode({ typ: 'JWT', alg: 'HS256', kid })}.${encode(payload)}`
      const mac = createHmac('sha256', deps.keys.signing.publicPem).update(input).digest('base64url')
      return result(`${input}.${mac}`)
    }
    const token = await new SignJWT(payload)
      .setProtectedHeader({ typ: 'JWT', alg: 'RS256', kid, x5t: kid })
      .sign(signing.privateKey)
    return result(token)
  }

  return {
    async issue(principal, opts) {
      const appidacr = opts.appidacr ?? (principal.kind === 'servicePrincipal' ? '1' : '2')
      const claims = principalClaims(principal, appidacr)
      const signOpts = { lifetimeSeconds: opts.lifetimeSeconds, ...(opts.audience ? { audience: opts.audience } : {}) }
      const issued = await sign(claims, signOpts)
      const short = (opts.minLength ?? 0) - issued.token.length
      if (principal.kind !== 'user' || short <= 0) return issued
      // each object id adds `"<36>",` (39 bytes) to the payload: 52 base64url characters
      const padding = Array.from({ length: Math.ceil(short / 52) }, () => randomUUID())
      const groups = [...((claims.groups as string[] | undefined) ?? []), ...padding]
      return sign({ ...claims, groups }, signOpts)
    },
    mint: sign,
  }
}
