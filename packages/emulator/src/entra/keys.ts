// The emulator's signing key (published in its JWKS), a foreign key for negative tests, and the federated issuer's key.
import { createHash, type webcrypto } from 'node:crypto'
import { exportJWK, exportSPKI, generateKeyPair, type JWK } from 'jose'
import { selfSignedCertificate } from '../pki/index.js'

export interface SigningKey {
  kid: string
  privateKey: webcrypto.CryptoKey
  publicKey: webcrypto.CryptoKey
  publicJwk: JWK
  /** PEM SPKI of the public key (the HS256-with-public-key attack uses it as the HMAC secret) */
  publicPem: string
}

/**
 * An RS256 key with a self-signed certificate, published as Entra publishes its keys: `kid` and `x5t` the
 * certificate's SHA-1 thumbprint (base64url, 27 characters), `x5c` the certificate.
 */
export async function createSigningKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true })
  const jwk = await exportJWK(publicKey)
  const { der } = await selfSignedCertificate({ privateKey, publicKey }, 'accounts.accesscontrol.windows.net')
  const kid = createHash('sha1').update(der).digest('base64url')
  return {
    kid,
    privateKey,
    publicKey,
    publicJwk: { kty: jwk.kty, use: 'sig', kid, x5t: kid, n: jwk.n, e: jwk.e, x5c: [der.toString('base64')] },
    publicPem: await exportSPKI(publicKey),
  }
}

export interface EntraKeys {
  signing: SigningKey
  /** never published: tokens signed with it must be refused. Made on first use. */
  foreign(): Promise<SigningKey>
  /** signs the Kubernetes-like service-account tokens used as federated assertions. Made on first use. */
  federation(): Promise<SigningKey>
}

function once<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined
  return () => {
    made ??= make()
    return made
  }
}

export async function createEntraKeys(): Promise<EntraKeys> {
  return { signing: await createSigningKey(), foreign: once(createSigningKey), federation: once(createSigningKey) }
}

/** The v2 document names each key's issuer, with Entra's literal `{tenantid}`; the v1 document does not. */
export function jwks(keys: EntraKeys, v2Issuer?: string): { keys: JWK[] } {
  return { keys: [{ ...keys.signing.publicJwk, ...(v2Issuer ? { issuer: v2Issuer } : {}) }] }
}
