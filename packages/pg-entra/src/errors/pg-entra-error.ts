import { redact } from './redact.js'

/** Every failure pg-entra reports carries one of these codes; they are part of the public API. */
export type PgEntraErrorCode =
  | 'INVALID_OPTION' // a missing or malformed option or connection string; the message names it
  | 'MISSING_DEPENDENCY' // an optional dependency is not installed; the hint is the install command
  | 'CREDENTIAL_UNAVAILABLE' // no credential could be built or used in this environment
  | 'CREDENTIAL_REJECTED' // Entra refused the credential (AADSTS code in the message)
  | 'ENTRA_UNREACHABLE' // Entra did not answer, answered 5xx/429, or the request timed out
  | 'TOKEN_UNAVAILABLE' // no valid token is left and none could be fetched
  | 'USER_NOT_DERIVABLE' // the database user cannot be derived from the token's claims
  | 'TLS_REQUIRED' // a token would travel without verified TLS
  | 'TOKEN_REFUSED' // the database refused the token (28P01 / 28000)
  | 'CONNECTION_FAILED' // the database could not be reached (ECONNREFUSED, ENOTFOUND, ETIMEDOUT...)
  | 'CACHE_ERROR' // a shared cache store failed; pg-entra fell back to its own memory
  | 'CLOSED' // the EntraAuth was closed

const BRAND = Symbol.for('pg-entra.error')
const INSPECT = Symbol.for('nodejs.util.inspect.custom')

export interface PgEntraErrorOptions {
  hint?: string
  cause?: unknown
  /** Facts safe to print (tenant, user, AADSTS code, step...), never a token or secret. */
  details?: Record<string, string | number | boolean | undefined>
}

export class PgEntraError extends Error {
  readonly code: PgEntraErrorCode
  readonly hint: string | undefined
  readonly details: Readonly<Record<string, string | number | boolean | undefined>>

  constructor(code: PgEntraErrorCode, message: string, options: PgEntraErrorOptions = {}) {
    // Messages are written not to hold a secret; what has a secret's shape (a JWT, a URL's password, a password=
    // field) is taken out anyway, in case one was quoted from upstream.
    super(redact(message))
    this.name = 'PgEntraError'
    this.code = code
    this.hint = options.hint
    this.details = Object.freeze(redactedDetails(options.details))
    // Upstream errors may quote a token or a secret: `cause` is not enumerable (JSON skips it) and the custom
    // inspect below leaves it out (util.inspect prints a non-enumerable `cause` otherwise). Read `error.cause`.
    if (options.cause !== undefined) {
      Object.defineProperty(this, 'cause', {
        value: options.cause,
        enumerable: false,
        writable: false,
        configurable: true,
      })
    }
    Object.defineProperty(this, BRAND, { value: true, enumerable: false })
  }

  [INSPECT](): string {
    const details = Object.entries(this.details).filter(([, v]) => v !== undefined)
    const lines = [`${this.stack ?? this.toString()}`]
    if (this.hint && !lines[0]!.includes(this.hint)) lines.push(`  hint: ${this.hint}`)
    if (details.length) lines.push(`  details: ${details.map(([k, v]) => `${k}=${String(v)}`).join(', ')}`)
    return `${lines.join('\n')}\n  code: ${this.code}`
  }

  override toString(): string {
    return `${this.name} [${this.code}]: ${this.message}${this.hint ? `\nhint: ${this.hint}` : ''}`
  }
}

/** True for a PgEntraError from any copy of pg-entra (ESM and CJS copies break `instanceof`). */
export function isPgEntraError(value: unknown): value is PgEntraError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true
}

function redactedDetails(
  details: PgEntraErrorOptions['details'],
): Record<string, string | number | boolean | undefined> {
  const out: Record<string, string | number | boolean | undefined> = {}
  for (const [name, value] of Object.entries(details ?? {}))
    out[name] = typeof value === 'string' ? redact(value) : value
  return out
}
