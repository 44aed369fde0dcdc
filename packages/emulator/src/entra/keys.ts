// The emulator's signing key (published in its JWKS), a foreign key for negative tests, and the federated issuer's key.
import type { webcrypto } from 'node:crypto'
import { calculateJwkThumbprint, exportJWK, exportSPKI, generateKeyPair, type JWK } from 'jose'

export interface SigningKey {
  kid: string
  privateKey: webcrypto.CryptoKey
  publicKey: webcrypto.CryptoKey
  publicJwk: JWK
  /** PEM SPKI of the public key (the HS256-with-public-key attack uses it as the HMAC secret) */
  publicPem: string
}

export async function createSigningKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true })
  const jwk = await exportJWK(publicKey)
  const kid = await calculateJwkThumbprint(jwk)
  return {
    kid,
    privateKey,
    publicKey,
    publicJwk: { ...jwk, kid, use: 'sig', alg: 'RS256', x5t: kid },
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

export function jwks(keys: EntraKeys): { keys: JWK[] } {
  return { keys: [keys.signing.publicJwk] }
}
