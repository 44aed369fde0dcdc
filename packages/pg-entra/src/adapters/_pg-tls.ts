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
  if (sslmode === 'require' && fields.libpqCompat && !fields.sslrootcert) {
    throw refuse('sslmode=require', 'with sslmode=require under uselibpqcompat, which does not verify the certificate')
  }
  if (sslmode !== undefined && !['require', 'verify-ca', 'verify-full'].includes(sslmode)) {
    throw new PgEntraError('INVALID_OPTION', `sslmode "${fields.sslmode}" is not a libpq sslmode`, {
      hint: 'use verify-full (or verify-ca / require)',
      details: { option: 'sslmode' },
    })
  }
  const files = filesOf(fields)
  const base: ConnectionOptions =
    typeof ssl === 'object' && ssl !== null ? { ...files, ...(ssl as ConnectionOptions) } : files
  const verifyCaOnly = sslmode === 'verify-ca' || (sslmode === 'require' && fields.libpqCompat === true)
  if (verifyCaOnly) return { ...base, checkServerIdentity: skipHostnameCheck }
  return Object.keys(base).length > 0 ? base : true
}
