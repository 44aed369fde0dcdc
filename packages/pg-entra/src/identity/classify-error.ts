import { isPgEntraError, PgEntraError, type PgEntraErrorOptions } from '../errors/pg-entra-error.js'
import { redact, redactedCopy, type Secret } from '../errors/redact.js'
import { isLoopbackHost } from '../shared/loopback.js'

/** What an AADSTS code means and what to do about it. */
const aadstsMeanings: Record<string, { meaning: string; hint: string }> = {
  '7000215': {
    meaning: 'invalid client secret',
    hint: 'the client secret is wrong: use the secret value (not its id) from the app registration',
  },
  '7000222': {
    meaning: 'the client secret has expired',
    hint: 'create a new client secret for the app registration and update clientSecret / AZURE_CLIENT_SECRET',
  },
  '700016': {
    meaning: 'application not found in the tenant',
    hint: 'check clientId (AZURE_CLIENT_ID) and that the app is registered, or consented to, in tenantId',
  },
  '90002': {
    meaning: 'tenant not found',
    hint: 'check tenantId (AZURE_TENANT_ID) and that the cloud / authorityHost matches the tenant',
  },
  '900023': { meaning: 'invalid tenant identifier', hint: 'tenantId must be a tenant GUID or a verified domain name' },
  '700027': {
    meaning: 'the client assertion signature or certificate is not valid',
    hint: 'upload this certificate (its public part) to the app registration, or check certificatePath',
  },
  '700024': {
    meaning: 'the client assertion is outside its valid time range',
    hint: 'check the machine clock; for workload identity, the federated token file may be stale (it is refreshed by the platform)',
  },
  '70021': {
    meaning: 'no federated identity credential matches the assertion',
    hint: 'add a federated credential to the app whose issuer, subject and audience match the service account token',
  },
  '700213': {
    meaning: 'no federated identity credential matches the assertion subject',
    hint: 'check the federated credential subject (system:serviceaccount:<namespace>:<name>)',
  },
  '500011': {
    meaning: 'the resource (scope) is not found in the tenant',
    hint: 'check scope/cloud: Azure Database for PostgreSQL uses https://ossrdbms-aad.database.windows.net/.default',
  },
  '53003': {
    meaning: 'blocked by conditional access',
    hint: 'a conditional access policy blocks this sign-in; ask the tenant admin to exclude this principal',
  },
  '50034': { meaning: 'the user account does not exist', hint: 'check the user name and tenant' },
  '50126': { meaning: 'invalid user name or password', hint: 'check the user credentials' },
  '7000112': { meaning: 'the application is disabled', hint: 'enable the app registration / service principal' },
  '50053': { meaning: 'the account is locked', hint: 'wait, or ask the tenant admin to unlock the account' },
}

/** AADSTS codes Entra uses for its own transient trouble, not for a bad credential. */
const transientAadsts = new Set(['50000', '50196', '90033', '90006'])

export interface ClassifyContext {
  /** Secrets that must never appear in the resulting message (client secret, certificate password...). */
  secrets?: readonly (string | undefined)[]
  tenantId?: string | undefined
  clientId?: string | undefined
  authorityHost?: string | undefined
  /**
   * 'imds' for a managed identity with no endpoint in the environment: @azure/identity asks the Instance Metadata
   * Service at 169.254.169.254, and an unavailable answer from there means no managed identity on this machine.
   */
  managedIdentityAt?: 'imds' | undefined
  /** The user-assigned managed identity asked for, as said to the user ("client id ..."). */
  managedIdentityAsked?: string | undefined
}

/** The context's secrets, and each paired with the client id (an HTTP Basic credential spells them together). */
function secretsOf(context: ClassifyContext): Secret[] {
  const secrets = context.secrets ?? []
  const { clientId } = context
  return clientId
    ? [...secrets, ...secrets.flatMap((secret) => (secret ? [{ id: clientId, secret }] : []))]
    : [...secrets]
}

interface ErrorLike {
  name?: unknown
  message?: unknown
  code?: unknown
  errorCode?: unknown
  statusCode?: unknown
  status?: unknown
  errorResponse?: { error?: unknown; errorDescription?: unknown; errorCodes?: unknown }
  errors?: unknown
  headers?: unknown
  retryAfterMs?: unknown
  cause?: unknown
}

function asErrorLike(value: unknown): ErrorLike {
  return typeof value === 'object' && value !== null ? (value as ErrorLike) : { message: String(value) }
}

/** Every message in the error, its `errors` (aggregate) and its causes, joined. */
function allText(error: ErrorLike, depth = 0): string {
  if (depth > 4) return ''
  const parts = [
    typeof error.message === 'string' ? error.message : '',
    typeof error.errorCode === 'string' ? error.errorCode : '',
    typeof error.errorResponse?.errorDescription === 'string' ? error.errorResponse.errorDescription : '',
  ]
  if (Array.isArray(error.errors)) for (const inner of error.errors) parts.push(allText(asErrorLike(inner), depth + 1))
  if (error.cause !== undefined) parts.push(allText(asErrorLike(error.cause), depth + 1))
  return parts.filter(Boolean).join('\n')
}

function statusOf(error: ErrorLike): number | undefined {
  for (const value of [error.statusCode, error.status]) if (typeof value === 'number') return value
  if (error.cause !== undefined && typeof error.cause === 'object') return statusOf(asErrorLike(error.cause))
  return undefined
}

function names(error: ErrorLike, depth = 0): string[] {
  if (depth > 4) return []
  const own = [error.name, error.code, error.errorCode].filter((v): v is string => typeof v === 'string')
  const inner = Array.isArray(error.errors) ? error.errors.flatMap((e) => names(asErrorLike(e), depth + 1)) : []
  const cause = error.cause !== undefined ? names(asErrorLike(error.cause), depth + 1) : []
  return [...own, ...inner, ...cause]
}

/**
 * How many credentials a chain (DefaultAzureCredential's, a ChainedTokenCredential) tried when every one of them said
 * it is unavailable (nothing is set up here); undefined otherwise. Its managed identity says so with a network error
 * (it probed IMDS), which is no outage.
 */
function unavailableChain(error: ErrorLike): number | undefined {
  const inner = Array.isArray(error.errors) ? error.errors : []
  const unavailable = inner.every((each) => asErrorLike(each).name === 'CredentialUnavailableError')
  return inner.length > 0 && unavailable ? inner.length : undefined
}

/** Retry-After in ms, from a number, headers, or the text ("Retry-After: 7", "retry after 7 seconds"). */
function retryAfterMsOf(error: ErrorLike, text: string): number | undefined {
  if (typeof error.retryAfterMs === 'number') return error.retryAfterMs
  const headers = error.headers as Record<string, unknown> | { get?(name: string): unknown } | undefined
  let header: unknown
  if (headers && typeof (headers as { get?: unknown }).get === 'function') {
    header = (headers as { get(name: string): unknown }).get('retry-after')
  } else if (headers && typeof headers === 'object') {
    header = (headers as Record<string, unknown>)['retry-after'] ?? (headers as Record<string, unknown>)['Retry-After']
  }
  const match = /retry[- ]after["']?\s*[:=]?\s*["']?(\d+)/i.exec(text)
  const seconds = Number(header ?? match?.[1])
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined
}

const networkCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'REQUEST_SEND_ERROR',
])

function firstLine(text: string): string {
  const line = text.split('\n').find((l) => l.trim() !== '') ?? ''
  return line.length > 300 ? `${line.slice(0, 300)}…` : line
}

/**
 * Turns an error from @azure/identity / MSAL (or any credential) into a PgEntraError with a stable code and a hint.
 * The message is scrubbed of tokens and of the secrets named in `context`.
 */
export function classifyCredentialError(error: unknown, context: ClassifyContext = {}): PgEntraError {
  if (isPgEntraError(error)) return error
  const e = asErrorLike(error)
  const secrets = secretsOf(context)
  // util.inspect prints `cause` even when it is not enumerable: keep a redacted copy, never the upstream object.
  const cause = redactedCopy(error, secrets)
  const text = redact(allText(e), secrets)
  const errorNames = names(e)
  const status = statusOf(e)
  const who = [context.tenantId && `tenant ${context.tenantId}`, context.clientId && `client ${context.clientId}`]
    .filter(Boolean)
    .join(', ')
  const details = { tenantId: context.tenantId, clientId: context.clientId, status }

  const aadsts = /AADSTS(\d+)/.exec(text)?.[1]
  const transient =
    /temporarily_unavailable|server_error|throttl|service unavailable/i.test(text) ||
    (aadsts !== undefined && transientAadsts.has(aadsts))
  if (aadsts && !transient) {
    const known = aadstsMeanings[aadsts]
    return new PgEntraError(
      'CREDENTIAL_REJECTED',
      `Entra refused the credential${who ? ` (${who})` : ''}: AADSTS${aadsts} ${known ? known.meaning : firstLine(text.slice(text.indexOf(`AADSTS${aadsts}`)))}`,
      {
        cause,
        hint: known?.hint ?? `look up AADSTS${aadsts} at https://login.microsoftonline.com/error?code=${aadsts}`,
        details: { ...details, aadsts: `AADSTS${aadsts}` },
      },
    )
  }

  if (/endpoints_resolution_error/i.test(text)) {
    const local = isLoopbackUrl(context.authorityHost)
    return new PgEntraError(
      'ENTRA_UNREACHABLE',
      `could not read the authority's OpenID metadata from ${context.authorityHost ?? 'the authority host'}${who ? ` (${who})` : ''}`,
      {
        cause,
        hint:
          (local
            ? 'the authority is on this machine: if it is pg-entra-emulator, it may have stopped (its exports are ' +
              'then stale): start it again and use the environment it prints now (pg-entra-emulator status); else '
            : '') +
          'check tenantId (an unknown tenant has no metadata), the authority host and the network; ' +
          'if the host is served with a private CA (an emulator, a TLS-inspecting proxy), ' +
          'pass that CA as authorityCa, or set NODE_EXTRA_CA_CERTS before the process starts (setting it at run time has no effect); ' +
          'AZURE_LOG_LEVEL=verbose shows the underlying cause',
        details: { ...details, step: 'metadata' },
      },
    )
  }

  const file = /(ENOENT|EACCES|EISDIR)[^']*'([^']+)'/.exec(text)
  if (file) {
    return new PgEntraError('CREDENTIAL_UNAVAILABLE', `the credential cannot read ${file[2]} (${file[1]})`, {
      cause,
      hint: 'check federatedTokenFile / AZURE_FEDERATED_TOKEN_FILE or certificatePath / AZURE_CLIENT_CERTIFICATE_PATH',
      details: { ...details, file: file[2] },
    })
  }

  if (errorNames.includes('AbortError') || /\baborted\b/i.test(text)) {
    return new PgEntraError(
      'ENTRA_UNREACHABLE',
      `the token request was aborted or timed out${who ? ` (${who})` : ''}`,
      {
        cause,
        hint: 'Entra did not answer in time; pg-entra retries with backoff while the last token stays valid',
        details: { ...details, step: 'token' },
      },
    )
  }

  if (context.managedIdentityAt === 'imds' && errorNames.includes('CredentialUnavailableError')) {
    return new PgEntraError(
      'CREDENTIAL_UNAVAILABLE',
      `no managed identity answered: the Azure Instance Metadata Service (169.254.169.254) cannot be reached from here (${firstLine(text)})`,
      {
        cause,
        hint:
          'off Azure there is no managed identity: use a service principal (tenantId, clientId, clientSecret), or ' +
          "pg-entra-emulator start, whose managed-identity profile sets IDENTITY_ENDPOINT; on an Azure VM, turn on the VM's managed identity",
        details: { ...details, step: 'managed identity' },
      },
    )
  }
  const unknownIdentity = /(No managed identity found[^\n]*|Identity not found[^\n]*)/i.exec(text)
  if (unknownIdentity && errorNames.includes('CredentialUnavailableError')) {
    return new PgEntraError(
      'CREDENTIAL_UNAVAILABLE',
      `the managed identity asked for${context.managedIdentityAsked ? ` (${context.managedIdentityAsked})` : ''} is not assigned here: ${firstLine(unknownIdentity[1]!).replace(/ - (Correlation|Trace) ID:.*$/, '')}`,
      {
        cause,
        hint:
          'check the id against the identities assigned to this App Service, VM or pod (az identity show; ' +
          "AZURE_CLIENT_ID is the identity's client id, not its object id), or drop it to use the system-assigned one",
        details: { ...details, step: 'managed identity' },
      },
    )
  }
  const tried = unavailableChain(e)
  if (tried !== undefined) {
    return noCredential(`none of the ${tried} credentials of the chain is set up here`, cause, details)
  }

  const throttled = status === 429 || /\b429\b|too many requests|throttl/i.test(text)
  const serverError =
    transient || (status !== undefined && status >= 500) || /\b50[0-4]\b|service unavailable|server_error/i.test(text)
  const network =
    errorNames.some((name) => networkCodes.has(name)) ||
    /ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|socket hang up|network|timed? ?out|fetch failed/i.test(text)
  if (throttled || serverError || network) {
    const retryAfterMs = retryAfterMsOf(e, allText(e))
    const why = throttled
      ? 'throttled the request (429)'
      : serverError
        ? `answered ${status ?? '5xx'}`
        : 'could not be reached'
    const message = `Entra ${why}${who ? ` (${who})` : ''}: ${firstLine(aadsts ? text.slice(text.indexOf(`AADSTS${aadsts}`)) : text)}`
    return new PgEntraError('ENTRA_UNREACHABLE', message, {
      cause,
      hint: throttled
        ? 'too many token requests: share one EntraAuth per process and a shared cache (file or redis) across processes'
        : 'a transient failure: pg-entra retries with backoff and keeps serving the last valid token meanwhile',
      details: { ...details, retryAfterMs, step: 'token', aadsts: aadsts ? `AADSTS${aadsts}` : undefined },
    })
  }

  if (errorNames.includes('CredentialUnavailableError')) return noCredential(firstLine(text), cause, details)

  if (status !== undefined && status >= 400 && status < 500) {
    return new PgEntraError(
      'CREDENTIAL_REJECTED',
      `Entra refused the credential${who ? ` (${who})` : ''}: ${firstLine(text)}`,
      {
        cause,
        hint: 'check the credential (client id, secret or certificate) and the tenant',
        details,
      },
    )
  }

  return new PgEntraError('TOKEN_UNAVAILABLE', `the credential failed: ${firstLine(text) || 'unknown error'}`, {
    cause,
    hint: 'set AZURE_LOG_LEVEL=verbose to see what @azure/identity did',
    details,
  })
}

/** CREDENTIAL_UNAVAILABLE: `what` says what was missing (from the scrubbed text, or how many credentials a chain tried). */
function noCredential(what: string, cause: unknown, details: PgEntraErrorOptions['details']): PgEntraError {
  return new PgEntraError('CREDENTIAL_UNAVAILABLE', `no credential is available: ${what}`, {
    cause,
    hint:
      'give tenantId/clientId/clientSecret, certificatePath, federatedTokenFile, managedIdentity or a credential; ' +
      'or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or run where a managed identity is available)',
    details,
  })
}

/** Whether `url` names this machine: an authority there is an emulator or a test. */
function isLoopbackUrl(url: string | undefined): boolean {
  if (!url) return false
  try {
    return isLoopbackHost(new URL(url).hostname.replace(/^\[|\]$/g, ''))
  } catch {
    return false
  }
}
