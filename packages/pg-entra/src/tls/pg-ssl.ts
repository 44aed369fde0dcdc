import { readFileSync } from 'node:fs'
import type { ConnectionOptions } from 'node:tls'
import type { ConnectionFields } from '../config/connection-fields.js'
import { PgEntraError } from '../errors/pg-entra-error.js'

export type PgSsl = boolean | ConnectionOptions

const optOut = 'entra: { allowUnverifiedTls: true }'

function refuse(option: string, why: string): PgEntraError {
  return new PgEntraError('TLS_REQUIRED', `refusing to send an Entra token ${why}`, {
    hint:
      `the token is the password and travels in clear text without verified TLS: remove ${option} (TLS with verification is ` +
      `the default; trust a private CA with ssl: { ca } or sslrootcert), or opt out explicitly with ${optOut}`,
    details: { option },
  })
}

function readPem(path: string, option: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (cause) {
    throw new PgEntraError(
      'INVALID_OPTION',
      `${option}: cannot read ${path} (${(cause as { code?: string }).code ?? 'error'})`,
      {
        hint: `point ${option} at a readable PEM file`,
        details: { option },
      },
    )
  }
}

/** The CA, certificate and key files named by sslrootcert/sslcert/sslkey, read now. */
function filesOf(fields: ConnectionFields): ConnectionOptions {
  const files: ConnectionOptions = {}
  if (fields.sslrootcert && fields.sslrootcert !== 'system') files.ca = readPem(fields.sslrootcert, 'sslrootcert')
  if (fields.sslcert) files.cert = readPem(fields.sslcert, 'sslcert')
  if (fields.sslkey) files.key = readPem(fields.sslkey, 'sslkey')
  return files
}

const skipHostnameCheck = (): undefined => undefined

/**
 * The pg `ssl` for a connection that will carry an Entra token: verified TLS unless `allowUnverified`, and a
 * TLS_REQUIRED error for anything weaker. `ssl` is the caller's own pg option; `fields` the connection string / PG*.
 */
export function resolveEntraSsl(ssl: unknown, fields: ConnectionFields, allowUnverified: boolean): PgSsl {
  const sslmode = fields.sslmode?.toLowerCase()
  if (ssl === null) ssl = undefined
  if (ssl === 'true') ssl = true // pg's own spellings in text
  if (ssl === 'no-verify') {
    if (allowUnverified) return { rejectUnauthorized: false }
    throw refuse("ssl: 'no-verify'", "over TLS without certificate verification (ssl: 'no-verify')")
  }
  if (ssl !== undefined && typeof ssl !== 'boolean' && (typeof ssl !== 'object' || Array.isArray(ssl))) {
    throw new PgEntraError(
      'INVALID_OPTION',
      `option ssl must be true or an object of TLS options (got ${Array.isArray(ssl) ? 'an array' : typeof ssl})`,
      { hint: 'use ssl: true, or ssl: { ca } to trust a private CA', details: { option: 'ssl' } },
    )
  }
  if (allowUnverified) {
    if (ssl !== undefined) return ssl as PgSsl
    if (sslmode === 'disable') return false
    const files = filesOf(fields)
    if (sslmode === 'verify-full' || sslmode === undefined) return Object.keys(files).length > 0 ? files : true
    if (sslmode === 'verify-ca') return { ...files, checkServerIdentity: skipHostnameCheck }
    return { ...files, rejectUnauthorized: false }
  }
  if (fields.host?.startsWith('/'))
    throw refuse('host', `over a Unix socket (${fields.host}), where TLS is not available`)
  if (ssl === false) throw refuse('ssl: false', 'without TLS (ssl: false)')
  if (typeof ssl === 'object' && ssl !== null && (ssl as ConnectionOptions).rejectUnauthorized === false) {
    throw refuse(
      'ssl.rejectUnauthorized: false',
      'over TLS without certificate verification (rejectUnauthorized: false)',
    )
  }
  if (sslmode === 'disable' || sslmode === 'allow' || sslmode === 'prefer') {
    throw refuse(`sslmode=${sslmode}`, `with sslmode=${sslmode}, which may connect without TLS`)
  }
  if (sslmode === 'no-verify')
    throw refuse('sslmode=no-verify', 'over TLS without certificate verification (sslmode=no-verify)')
  if (sslmode === 'require' && fields.libpqCompat) {
    throw refuse(
      'sslmode=require',
      'with sslmode=require under uselibpqcompat, which does not check the host name (or the certificate, without sslrootcert)',
    )
  }
  if (sslmode === 'verify-ca') {
    throw refuse(
      'sslmode=verify-ca',
      'with sslmode=verify-ca, which does not check that the certificate names the host',
    )
  }
  if (typeof ssl === 'object' && ssl !== null) {
    const given = ssl as ConnectionOptions
    if (typeof given.checkServerIdentity === 'function') {
      throw refuse(
        'ssl.checkServerIdentity',
        'with a custom ssl.checkServerIdentity, which replaces the host name check',
      )
    }
    if (typeof given.servername === 'string' && fields.host !== undefined && given.servername !== fields.host) {
      throw refuse('ssl.servername', `with ssl.servername set to another name than the host connected to`)
    }
  }
  if (sslmode !== undefined && !['require', 'verify-ca', 'verify-full'].includes(sslmode)) {
    // Quoted only when it looks like a mode: from a malformed URL it could be a piece of a password.
    const shown = /^[a-z-]{1,16}$/i.test(sslmode) ? ` "${fields.sslmode}"` : ''
    throw new PgEntraError('INVALID_OPTION', `sslmode${shown} is not a libpq sslmode`, {
      hint: 'use verify-full (or verify-ca / require)',
      details: { option: 'sslmode' },
    })
  }
  const files = filesOf(fields)
  const base: ConnectionOptions =
    typeof ssl === 'object' && ssl !== null ? { ...files, ...(ssl as ConnectionOptions) } : files
  return Object.keys(base).length > 0 ? base : true
}

/** Why a TLS connection to the server failed before the token was sent (details.reason of TLS_REQUIRED). */
export type TlsFailureReason =
  | 'server-offers-no-tls'
  | 'no-tls-answer'
  | 'untrusted-certificate'
  | 'host-name-mismatch'
  | 'invalid-certificate'
  | 'handshake-failed'

// pg's own errors when the server answers an SSLRequest with N, or with anything but S or N.
const PG_NO_TLS = 'The server does not support SSL connections'
const PG_NO_TLS_ANSWER = 'There was an error establishing an SSL connection'
const UNTRUSTED_CODES = new Set(['CERT_UNTRUSTED', 'CERT_REJECTED', 'CERT_CHAIN_TOO_LONG', 'INVALID_CA'])

/** The reason for a pg or Node TLS error (pg's SSL messages, OpenSSL certificate codes, ERR_TLS_*, ERR_SSL_*, EPROTO). */
export function tlsFailureReason(error: unknown): TlsFailureReason | undefined {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown }
  if (message === PG_NO_TLS) return 'server-offers-no-tls'
  if (message === PG_NO_TLS_ANSWER) return 'no-tls-answer'
  if (typeof code !== 'string') return undefined
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return 'host-name-mismatch'
  if (code.startsWith('UNABLE_TO_') || code.includes('SELF_SIGNED') || UNTRUSTED_CODES.has(code)) {
    return 'untrusted-certificate'
  }
  if (code.startsWith('CERT_')) return 'invalid-certificate'
  if (code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_') || code === 'EPROTO') return 'handshake-failed'
  return undefined
}

const tokenNotSent = 'The Entra token was not sent.'
const trustTheCa =
  "trust the server's CA with ssl: { ca: fs.readFileSync('ca.pem') }, sslrootcert=/path/to/ca.pem in the connection " +
  "string, or PGSSLROOTCERT (Azure Database for PostgreSQL's certificates chain to CAs Node already trusts)"

/** For UNABLE_TO_GET_ISSUER_CERT: the chain reached a CA that was trusted, but that CA's own issuer is missing. */
export const TRUST_THE_ROOT =
  'the CA trusted (sslrootcert / ssl.ca) is an issuing CA, not a root: trust the root it chains to (Azure: DigiCert ' +
  'Global Root G2 and Microsoft RSA Root CA 2017), never an issuing CA or a server certificate, which Azure rotates'

function explain(reason: TlsFailureReason, host: string, tlsCode?: string): { what: string; hint: string } {
  switch (reason) {
    case 'server-offers-no-tls':
    case 'no-tls-answer':
      return {
        what: reason === 'server-offers-no-tls' ? 'the server does not offer TLS' : 'the server did not negotiate TLS',
        hint:
          `${tokenNotSent} Entra tokens go only over verified TLS (SSL): check host and port (Azure Database for ` +
          'PostgreSQL always offers TLS), or enable TLS on the server. For a local server without TLS, opt out ' +
          `explicitly with ${optOut} and ssl: false.`,
      }
    case 'untrusted-certificate':
      return {
        what: "the server's certificate does not chain to a trusted CA",
        hint:
          tlsCode === 'UNABLE_TO_GET_ISSUER_CERT'
            ? `${tokenNotSent} To connect: ${TRUST_THE_ROOT}.`
            : `${tokenNotSent} To connect, ${trustTheCa}.`,
      }
    case 'host-name-mismatch':
      return {
        what: `the server's certificate does not name host "${host}"`,
        hint:
          `${tokenNotSent} Connect with a host name the TLS certificate names (the server's DNS name; an IP address ` +
          `only if the certificate lists it); ${trustTheCa}. Skipping the host name check needs ${optOut} by name.`,
      }
    case 'invalid-certificate':
      return {
        what: "the server's certificate is not valid (expired, not yet valid, revoked or malformed)",
        hint: `${tokenNotSent} Check the server's TLS certificate and this machine's clock; ${trustTheCa}.`,
      }
    case 'handshake-failed':
      return {
        what: 'the TLS handshake failed',
        hint:
          `${tokenNotSent} Check that host and port are a PostgreSQL server with TLS and that the ssl options ` +
          `(ca, cert, key) are right; ${trustTheCa}.`,
      }
  }
}

/**
 * TLS_REQUIRED for a pg or Node TLS error met while connecting before the token was sent, with what to do; undefined
 * when `error` is not about TLS. The original error is the `cause`.
 */
export function tlsFailure(error: unknown, where: { host: string; port: number }): PgEntraError | undefined {
  const reason = tlsFailureReason(error)
  if (!reason) return undefined
  const code = (error as { code?: unknown }).code
  const tlsCode = typeof code === 'string' ? code : undefined
  const { what, hint } = explain(reason, where.host, tlsCode)
  return new PgEntraError(
    'TLS_REQUIRED',
    `TLS to ${where.host}:${where.port} failed: ${what}${tlsCode ? ` (${tlsCode})` : ''}; the Entra token was not sent`,
    { hint, cause: error, details: { option: 'ssl', host: where.host, port: where.port, reason, tlsCode } },
  )
}
