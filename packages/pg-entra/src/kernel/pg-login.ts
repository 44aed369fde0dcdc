// What a failed pg login means, said once for every pg-based adapter: TLS trouble before the token was sent, a token
// the server refused (with the statement that maps the principal to the role), or a network fault with its fix.
import { telemetryOf } from '../auth/entra-auth.js'
import type { EntraAuth } from '../auth/types.js'
import { isPgEntraError, PgEntraError } from '../errors/pg-entra-error.js'
import { redact } from '../errors/redact.js'
import { createRoleSql, quoteLiteral } from '../identity/role-statement.js'
import type { TokenIdentity } from '../shared/identity.js'
import { recordLoginRetried } from '../telemetry/login.js'
import { isRefusalOfToken } from '../tls/pg-caller.js'
import { tlsFailure } from '../tls/pg-ssl.js'

const AUTH_REFUSED = new Set(['28P01', '28000'])

function isLoginRefusal(error: unknown): error is Error & { code: string } {
  const code = (error as { code?: unknown } | undefined)?.code
  return typeof code === 'string' && AUTH_REFUSED.has(code)
}

export interface LoginTarget {
  host: string
  port: number
  user: string
  auth: EntraAuth
  /** Whether a refused login was already retried with a fresh token. */
  retried?: boolean
}

const NETWORK_HINTS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'nothing listens there: check host and port (Azure uses 5432, and 6432 for its PgBouncer)',
  ENOTFOUND:
    'the host name does not resolve: check it (Azure: <server>.postgres.database.azure.com); a private endpoint needs its private DNS zone',
  EAI_AGAIN: 'DNS did not answer: check the host name and this machine’s DNS',
  ETIMEDOUT:
    'no answer: a firewall may drop the connection; on Azure allow this client’s IP in the server’s Networking page',
  ECONNRESET: 'the server closed the connection: check that host and port point at PostgreSQL',
  EHOSTUNREACH: 'no route to the host: check the network and the host address',
}

/**
 * The error to report for a failed Entra login: a PgEntraError (as is), TLS_REQUIRED explaining a TLS failure,
 * TOKEN_REFUSED for 28P01/28000, CONNECTION_FAILED for network codes, or the driver's error itself.
 */
export async function explainLoginFailure(error: unknown, target: LoginTarget): Promise<unknown> {
  if (isPgEntraError(error)) return error
  const tls = tlsFailure(error, target)
  if (tls) return tls
  if (isLoginRefusal(error) && isRefusalOfToken(error)) return tokenRefused(error, target)
  return connectionFailure(error, target) ?? error
}

/** CONNECTION_FAILED, with what to check, for a network error code; undefined for anything else. */
export function connectionFailure(error: unknown, target: { host: string; port: number }): PgEntraError | undefined {
  const code = (error as { code?: unknown } | undefined)?.code
  if (typeof code !== 'string' || !NETWORK_HINTS[code]) return undefined
  return new PgEntraError('CONNECTION_FAILED', `cannot connect to ${target.host}:${target.port} (${code})`, {
    hint: NETWORK_HINTS[code],
    cause: compactCause(error),
    details: { host: target.host, port: target.port, code },
  })
}

/** TOKEN_REFUSED for `target.user`, with the statement that maps the token's principal to it. */
async function tokenRefused(error: Error & { code: string }, target: LoginTarget): Promise<PgEntraError> {
  let identity: TokenIdentity | undefined
  try {
    identity = await target.auth.identity()
  } catch {
    identity = undefined
  }
  const role = target.user
  const statement =
    (identity && createRoleSql(identity, role)) ??
    `select * from pgaadauth_create_principal(${quoteLiteral(role)}, false, false);`
  const principal = identity
    ? `${identity.kind}${identity.upn ? ` ${identity.upn}` : ''}${identity.objectId ? ` oid ${identity.objectId}` : ''}`
    : 'unknown'
  const serverSaid = redactTokens(error.message)
  const azureSays = refusalHint(serverSaid)
  return new PgEntraError(
    'TOKEN_REFUSED',
    `the database refused the Entra token for role "${role}" (${error.code}: ${serverSaid}); token principal: ${principal}`,
    {
      hint:
        azureSays ??
        `make sure role "${role}" exists and is mapped to this principal. If it does not exist: connected to the ` +
          `postgres database as an Entra admin, run ${statement} If it exists for another principal, connect as this ` +
          `principal's own role (pg-entra whoami shows it)${identity?.objectId ? `, or map it to object id ${identity.objectId}` : ''}. ` +
          `If it is this principal's, check that the token's tenant and audience are the server's (pg-entra check).`,
      cause: compactCause(error),
      details: {
        role,
        sqlstate: error.code,
        kind: identity?.kind,
        objectId: identity?.objectId,
        retried: target.retried === true,
      },
    },
  )
}

/** What to do about one of Azure Database for PostgreSQL's own refusal texts (the emulator's README lists them). */
const AZURE_REFUSALS: [RegExp, string][] = [
  [
    /access token has expired/i,
    "the server saw an expired token: check this machine's clock (and the token endpoint's); pg-entra hands out tokens well before expiry",
  ],
  [
    /does not have a valid audience claim/i,
    'the token is for another resource: leave scope unset, or use cloud (public, china, usgov) matching the server',
  ],
  [
    /error occurred while validating the access token/i,
    "the server could not validate the token (signature, issuer or tenant): check that tenantId and cloud are the server's",
  ],
  [/access token has invalid format/i, 'the password is not an Entra access token: check the credential and scope'],
  [
    /AAD_AUTH_TOKENTYPE/i,
    "the role is mapped to another kind of principal (a user's role given an app's token, or the reverse): connect as a role created for this principal (pg-entra whoami shows its kind and object id)",
  ],
]

function refusalHint(serverSaid: string): string | undefined {
  return AZURE_REFUSALS.find(([text]) => text.test(serverSaid))?.[1]
}

/** The server's words without a token it may quote (a JWT by shape; the redaction module knows the rest). */
function redactTokens(text: string): string {
  return redact(text)
}

/** The driver's error reduced to what helps (code, severity, message; tokens taken out): no dump of empty fields. */
function compactCause(error: unknown): Error {
  const { code, severity, message } = error as { code?: unknown; severity?: unknown; message?: unknown }
  const compact = new Error(redactTokens(typeof message === 'string' ? message : String(error)))
  compact.name =
    (error as { name?: unknown })?.name === 'error' ? 'DatabaseError' : String((error as Error).name ?? 'Error')
  Object.assign(compact, {
    ...(typeof code === 'string' ? { code } : {}),
    ...(typeof severity === 'string' ? { severity } : {}),
  })
  compact.stack = `${compact.name}: ${compact.message}`
  return compact
}

/**
 * Runs `connect`; a login the server refuses (the token was forgotten at the refusal) is tried once more, with a
 * fresh token. Failures come back explained.
 */
export async function connectRetryingRefusal<T>(
  connect: () => Promise<T>,
  target: Omit<LoginTarget, 'retried'>,
): Promise<T> {
  try {
    return await connect()
  } catch (error) {
    if (!(isLoginRefusal(error) && isRefusalOfToken(error))) throw await explainLoginFailure(error, target)
    recordLoginRetried(telemetryOf(target.auth), { sqlState: error.code })
  }
  try {
    return await connect()
  } catch (error) {
    throw await explainLoginFailure(error, { ...target, retried: true })
  }
}
