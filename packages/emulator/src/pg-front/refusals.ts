// What Azure Database for PostgreSQL tells a client it refuses, text and SQLSTATE, one function per case. The sources
// of the texts are in the emulator README's fidelity table. `reason` is the precise cause, for the front's events only.
import type { TokenRejectedReason } from './types.js'

export interface Rejection {
  /** SQLSTATE for the client */
  code: string
  /** what the client is told */
  message: string
  /** what the events say */
  reason: string
}

const OSSRDBMS_RESOURCE = 'https://ossrdbms-aad.database.windows.net'

export const AZURE_TEXT = {
  expired: 'The access token has expired. Please acquire a new token and retry.',
  audience: `The access token does not have a valid audience claim. Please acquire a new token for the resource "${OSSRDBMS_RESOURCE}".`,
  validation: 'An error occurred while validating the access token. Please acquire a new token and retry',
  format: 'The access token has invalid format',
  oid: 'The access token does not have a valid oid claim. Please acquire a new token and retry',
} as const

/** PostgreSQL's own refusal, which Azure also sends when a valid token is another principal's. */
export function passwordFailed(role: string, reason: string): Rejection {
  return { code: '28P01', message: `password authentication failed for user "${role}"`, reason }
}

export function tokenRefused(reason: TokenRejectedReason, detail: string): Rejection {
  const message =
    reason === 'expired'
      ? AZURE_TEXT.expired
      : reason === 'audience'
        ? AZURE_TEXT.audience
        : reason === 'malformed' || reason === 'algorithm'
          ? AZURE_TEXT.format
          : reason === 'oid'
            ? AZURE_TEXT.oid
            : AZURE_TEXT.validation
  return { code: '28000', message, reason: `token rejected (${reason}): ${detail}` }
}

/** An app's token (service principal, managed identity) for a role mapped to a user. */
export function appTokenForUserRole(role: string, reason: string): Rejection {
  return {
    code: '28000',
    message: `Azure AD user token for role[${role}] is neither an AAD_AUTH_TOKENTYPE_APP_USER or an AAD_AUTH_TOKENTYPE_APP_OBO token.`,
    reason,
  }
}

/** A user's token for a role mapped to a service principal or managed identity. */
export function userTokenForServiceRole(role: string, reason: string): Rejection {
  return {
    code: '28000',
    message: `Service Principals cannot generate AAD_AUTH_TOKENTYPE_APP_USER tokens for role[${role}]`,
    reason,
  }
}

/** A role created with isMfa = true, and a token without `mfa` in its `amr` claim. */
export function mfaRequired(role: string, reason: string): Rejection {
  return {
    code: '28000',
    message: `The access token for role[${role}] was not issued with multi-factor authentication. Please sign in with multi-factor authentication and retry.`,
    reason,
  }
}

/** Flexible Server's pg_hba answer to a client without TLS (Single Server said "SSL connection is required..."). */
export function noEncryption(host: string, role: string, database: string): Rejection {
  return {
    code: '28000',
    message: `no pg_hba.conf entry for host "${host}", user "${role}", database "${database}", no encryption`,
    reason: 'no TLS',
  }
}

export function tooManyClients(max: number): Rejection {
  return { code: '53300', message: 'sorry, too many clients already', reason: `connection cap of ${max} reached` }
}
