// An in-process certificate authority shaped like Azure's: a root that clients trust through its PEM (tlsOptions.ca,
// PGSSLROOTCERT, NODE_EXTRA_CA_CERTS), an issuing CA under it, and RSA server certificates from that issuing CA, which
// the servers present together with it, as Azure Database for PostgreSQL presents its issuing CA (the root stays
// with the client; trusting the issuing CA or a server certificate instead breaks when Azure rotates them).
// @peculiar/x509 needs a Reflect metadata polyfill loaded before it is evaluated (tsyringe). It is imported
// dynamically below so that the polyfill has run first even when a bundler inlines the polyfill into this chunk.
import 'reflect-metadata'
import { createHash, randomBytes, webcrypto } from 'node:crypto'
import type * as X509 from '@peculiar/x509'

let loaded: Promise<typeof X509> | undefined
function loadX509(): Promise<typeof X509> {
  loaded ??= import('@peculiar/x509').then((x509) => {
    x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0])
    return x509
  })
  return loaded
}

type CryptoKeyPair = webcrypto.CryptoKeyPair

const RSA_KEY: webcrypto.RsaHashedKeyGenParams = {
  name: 'RSASSA-PKCS1-v1_5',
  modulusLength: 2048,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: 'SHA-256',
}
const RSA_SIGNING = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } // sha256WithRSAEncryption, as Azure's chain
const DAY_MS = 86_400_000

export interface IssuedCertificate {
  /** PEM private key (PKCS#8) */
  key: string
  /** PEM certificate */
  cert: string
}

export interface ClientCertificate extends IssuedCertificate {
  /** base64url SHA-1 of the DER certificate, as in a JWT's x5t header */
  x5t: string
  /** base64url SHA-256 of the DER certificate, as in a JWT's x5t#S256 header */
  x5tS256: string
  /** PEM public key (SPKI) */
  publicKey: string
}

export interface CertificateAuthority {
  /** PEM of the root CA certificate: the one thing clients need to trust */
  caPem: string
  /** PEM of the issuing CA under the root, which servers send after their own certificate */
  issuingCaPem: string
  /** A server certificate for 127.0.0.1, ::1 and localhost, or for the names given; `cert` holds it and the issuing CA */
  issueServerCertificate(names?: { dns?: string[]; ip?: string[] }): Promise<IssuedCertificate>
  /** An RSA client certificate, as an app registration's certificate credential */
  issueClientCertificate(commonName: string): Promise<ClientCertificate>
}

function toPem(der: ArrayBuffer, label: string): string {
  const body = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n')
  return `-----BEGIN ${label}-----\n${body}${body.endsWith('\n') ? '' : '\n'}-----END ${label}-----\n`
}

function serialNumber(): string {
  const bytes = randomBytes(16)
  bytes[0] = (bytes[0] ?? 0) & 0x7f
  return bytes.toString('hex')
}

function validity(days: number) {
  const now = Date.now()
  return { notBefore: new Date(now - 60_000), notAfter: new Date(now + days * DAY_MS) }
}

/** `commonName` names the authority: its root is "<name> Root CA <suffix>", its issuing CA "<name> TLS Issuing CA <suffix>". */
export async function createCertificateAuthority(
  options: { commonName?: string; validityDays?: number } = {},
): Promise<CertificateAuthority> {
  const x509 = await loadX509()
  const validityDays = options.validityDays ?? 30
  const label = options.commonName ?? 'pg-entra-emulator'
  const suffix = randomBytes(4).toString('hex')
  const generate = async () => (await webcrypto.subtle.generateKey(RSA_KEY, true, ['sign', 'verify'])) as CryptoKeyPair
  // RSA keys take a while to make: the first server certificate's is made alongside the CAs'.
  let spareKeys: Promise<CryptoKeyPair> | undefined = generate()
  spareKeys.catch(() => {})
  const [rootKeys, issuingKeys] = await Promise.all([generate(), generate()])
  const rootCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: `CN=${label} Root CA ${suffix}`,
    ...validity(validityDays),
    signingAlgorithm: RSA_SIGNING,
    keys: rootKeys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey),
    ],
  })

  async function issue(
    subject: string,
    keys: CryptoKeyPair,
    extensions: X509.Extension[],
    issuer: { cert: X509.X509Certificate; keys: CryptoKeyPair },
  ): Promise<{ cert: X509.X509Certificate; key: string }> {
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serialNumber(),
      subject,
      issuer: issuer.cert.subject,
      ...validity(validityDays),
      signingAlgorithm: RSA_SIGNING,
      publicKey: keys.publicKey,
      signingKey: issuer.keys.privateKey,
      extensions: [
        await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        ...extensions,
      ],
    })
    const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)
    return { cert, key: toPem(pkcs8, 'PRIVATE KEY') }
  }

  const endEntity = new x509.BasicConstraintsExtension(false, undefined, true)
  const { cert: issuingCert } = await issue(
    `CN=${label} TLS Issuing CA ${suffix}`,
    issuingKeys,
    [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
    { cert: rootCert, keys: rootKeys },
  )
  const issuingCaPem = `${issuingCert.toString('pem')}\n`
  const issuing = { cert: issuingCert, keys: issuingKeys }

  return {
    caPem: rootCert.toString('pem'),
    issuingCaPem,
    async issueServerCertificate(names = { dns: ['localhost'], ip: ['127.0.0.1', '::1'] }) {
      const made = spareKeys ?? generate()
      spareKeys = undefined
      const keys = await made
      const { cert, key } = await issue(
        `CN=${names.dns?.[0] ?? names.ip?.[0] ?? 'localhost'}`,
        keys,
        [
          endEntity,
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
          new x509.SubjectAlternativeNameExtension([
            ...(names.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
            ...(names.ip ?? []).map((value) => ({ type: 'ip' as const, value })),
          ]),
        ],
        issuing,
      )
      return { key, cert: `${cert.toString('pem')}\n${issuingCaPem}` }
    },
    async issueClientCertificate(commonName) {
      const keys = await generate()
      const { cert, key } = await issue(
        `CN=${commonName.replace(/[,=+<>#;"\\]/g, '_')}`,
        keys,
        [
          endEntity,
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
        ],
        issuing,
      )
      const der = Buffer.from(cert.rawData)
      const spki = await webcrypto.subtle.exportKey('spki', keys.publicKey)
      return {
        key,
        cert: cert.toString('pem'),
        x5t: createHash('sha1').update(der).digest('base64url'),
        x5tS256: createHash('sha256').update(der).digest('base64url'),
        publicKey: toPem(spki, 'PUBLIC KEY'),
      }
    },
  }
}

/**
 * A self-signed certificate for an existing RS256 key pair, as Entra publishes with each signing key (its JWKS `x5c`
 * and the SHA-1 thumbprint `x5t`, which is also the key's `kid`), in DER.
 */
export async function selfSignedCertificate(keys: CryptoKeyPair, commonName: string): Promise<{ der: Buffer }> {
  const x509 = await loadX509()
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: `CN=${commonName}`,
    ...validity(365),
    signingAlgorithm: RSA_SIGNING,
    keys,
    extensions: [],
  })
  return { der: Buffer.from(cert.rawData) }
}
