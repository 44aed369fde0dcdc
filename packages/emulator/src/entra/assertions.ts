// Client assertions at the token endpoint: a certificate credential's signed JWT, or a federated (workload
// identity) token issued by the emulator's own service-account issuer.
import { decodeProtectedHeader, importSPKI, jwtVerify } from 'jose'
import type { Directory } from '../directory/index.js'
import type { Principal } from '../directory/types.js'
import { FEDERATED_AUDIENCE } from './constants.js'
import type { SigningKey } from './keys.js'

export type AssertionResult =
  | { ok: true; credential: 'certificate' | 'federated' }
  | { ok: false; code: number; error: string; description: string }

function reason(e: unknown): string {
  const err = e as { code?: string; claim?: string; message?: string }
  return [err.code, err.claim && `claim ${err.claim}`].filter(Boolean).join(' ') || 'invalid'
}

export async function verifyClientAssertion(args: {
  assertion: string
  principal: Principal
  directory: Directory
  /** the token endpoint URLs the assertion's aud may name */
  tokenEndpoints: string[]
  federation: { issuer: string; key: SigningKey }
}): Promise<AssertionResult> {
  const { assertion, principal, directory } = args
  const clientId = principal.appId ?? ''
  let header: ReturnType<typeof decodeProtectedHeader>
  try {
    header = decodeProtectedHeader(assertion)
  } catch {
    return { ok: false, code: 700027, error: 'invalid_client', description: 'Client assertion is not a valid JWT.' }
  }
  const x5t = typeof header.x5t === 'string' ? header.x5t : undefined
  const x5tS256 = typeof header['x5t#S256'] === 'string' ? (header['x5t#S256'] as string) : undefined
  const credentials = directory.credentials(principal)

  if (x5t || x5tS256) {
    const certificate = credentials.certificate
    const owner = directory.byCertificateThumbprint({ x5t, x5tS256 })
    if (!certificate || owner !== principal) {
      return {
        ok: false,
        code: 700027,
        error: 'invalid_client',
        description: `Client assertion failed signature validation. The certificate with thumbprint '${x5t ?? x5tS256}' is not registered for application '${clientId}'.`,
      }
    }
    try {
      const alg = header.alg === 'PS256' ? 'PS256' : 'RS256'
      const key = await importSPKI(certificate.publicKey, alg)
      await jwtVerify(assertion, key, {
        algorithms: ['RS256', 'PS256'],
        audience: args.tokenEndpoints,
        issuer: clientId,
        subject: clientId,
        requiredClaims: ['exp'],
        clockTolerance: 300,
      })
      return { ok: true, credential: 'certificate' }
    } catch (e) {
      return {
        ok: false,
        code: 700027,
        error: 'invalid_client',
        description: `Client assertion contains an invalid signature or claims (${reason(e)}).`,
      }
    }
  }

  if (!credentials.federatedSubject) {
    return {
      ok: false,
      code: 70021,
      error: 'invalid_client',
      description: `No matching federated identity record found for presented assertion. Application '${clientId}' has no federated credential.`,
    }
  }
  try {
    await jwtVerify(assertion, args.federation.key.publicKey, {
      algorithms: ['RS256'],
      issuer: args.federation.issuer,
      audience: FEDERATED_AUDIENCE,
      subject: credentials.federatedSubject,
      requiredClaims: ['exp'],
    })
    return { ok: true, credential: 'federated' }
  } catch (e) {
    return {
      ok: false,
      code: 70021,
      error: 'invalid_client',
      description: `No matching federated identity record found for presented assertion (${reason(e)}).`,
    }
  }
}
