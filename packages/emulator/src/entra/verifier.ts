// The TokenVerifier the PostgreSQL front uses: signature from the emulator's JWKS (fetched over HTTPS trusting the
// emulator's CA), RS256 only, audience, tenant, issuer (v1 or v2 form), expiry and not-before with a small skew.
import { request } from 'node:https'
import { createRemoteJWKSet, customFetch, decodeProtectedHeader, type FetchImplementation, jwtVerify } from 'jose'
import type { TokenRejectedReason, TokenVerifier, VerifiedToken } from '../pg-front/types.js'
import { TokenRejected } from '../pg-front/types.js'

export interface TokenVerifierOptions {
  jwksUri: string
  /** PEM of the CA that issued the JWKS server's certificate */
  ca: string
  tenantId: string
  /** accepted issuers, e.g. the v1 and v2 forms */
  issuers: string[]
  /** accepted audiences, compared exactly (Azure refuses `https://ossrdbms-aad.database.windows.net/`) */
  audiences: string[]
  clockSkewSeconds?: number
}

/** fetch() over node:https with a private CA: Node 20's fetch cannot take one per request. */
function fetchTrusting(ca: string): FetchImplementation {
  return (url, options) =>
    new Promise<Response>((resolve, reject) => {
      const req = request(url, { method: 'GET', ca, signal: options.signal }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const headers = new Headers()
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers.set(k, v)
          resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 500, headers }))
        })
        res.on('error', reject)
      })
      req.on('error', reject)
      req.end()
    })
}

function reject(reason: TokenRejectedReason, message: string): never {
  throw new TokenRejected(reason, message)
}

function mapJoseError(e: unknown): never {
  const err = e as { code?: string; claim?: string; message?: string }
  switch (err.code) {
    case 'ERR_JWT_EXPIRED':
      return reject('expired', 'token expired (exp is in the past beyond the allowed skew)')
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (err.claim === 'nbf') return reject('not-yet-valid', 'token not yet valid (nbf is in the future)')
      if (err.claim === 'aud') return reject('audience', `unexpected audience: ${err.message ?? ''}`)
      if (err.claim === 'iss') return reject('issuer', `unexpected issuer: ${err.message ?? ''}`)
      if (err.claim === 'oid') return reject('oid', 'token has no oid claim')
      return reject('claims', `claim ${err.claim ?? '?'} invalid: ${err.message ?? ''}`)
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return reject('algorithm', 'only RS256 is accepted')
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return reject('unknown-key', 'no key in the JWKS matches the token kid')
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return reject('unknown-key', 'several JWKS keys match the token kid')
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return reject('signature', 'signature verification failed')
    case 'ERR_JWKS_TIMEOUT':
    case 'ERR_JWKS_INVALID':
      return reject('jwks-unavailable', `JWKS unavailable (${err.code})`)
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
    case 'ERR_JWT_CLAIM_INVALID':
      return reject('malformed', `malformed token (${err.code})`)
    default:
      if (err.code === undefined) return reject('jwks-unavailable', `JWKS fetch failed: ${(e as Error).name}`)
      return reject('malformed', `token refused (${err.code})`)
  }
}

const OBJECT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const keySet = createRemoteJWKSet(new URL(options.jwksUri), {
    [customFetch]: fetchTrusting(options.ca),
    cooldownDuration: 1_000,
  })
  const clockTolerance = options.clockSkewSeconds ?? 60

  return {
    async verify(token) {
      let alg: unknown
      try {
        alg = decodeProtectedHeader(token).alg
      } catch {
        reject('malformed', 'not a JWT')
      }
      if (alg !== 'RS256') reject('algorithm', `alg ${String(alg)} refused: only RS256 is accepted`)
      let claims: Record<string, unknown>
      try {
        ;({ payload: claims } = await jwtVerify(token, keySet, {
          algorithms: ['RS256'],
          audience: options.audiences,
          clockTolerance,
          requiredClaims: ['exp', 'iat', 'tid', 'oid'],
        }))
      } catch (e) {
        mapJoseError(e)
      }
      const tid = claims.tid
      if (tid !== options.tenantId) reject('tenant', `token is for tenant ${String(tid)}, not ${options.tenantId}`)
      if (typeof claims.iss !== 'string' || !options.issuers.includes(claims.iss)) {
        reject('issuer', `unexpected issuer ${String(claims.iss)}`)
      }
      const oid = claims.oid
      if (typeof oid !== 'string' || !OBJECT_ID.test(oid)) reject('oid', 'token has no valid oid claim')
      const upn = [claims.upn, claims.unique_name, claims.preferred_username].find(
        (v): v is string => typeof v === 'string' && v !== '',
      )
      const groups = Array.isArray(claims.groups) ? claims.groups.filter((g): g is string => typeof g === 'string') : []
      const verified: VerifiedToken = {
        claims,
        oid,
        tid: tid as string,
        tokenId: typeof claims.uti === 'string' ? claims.uti : '',
        issuedAt: Number(claims.iat),
        expiresAt: Number(claims.exp),
        ...(upn && claims.idtyp !== 'app' ? { upn } : {}),
        ...(groups.length > 0 ? { groups } : {}),
      }
      return verified
    },
  }
}
