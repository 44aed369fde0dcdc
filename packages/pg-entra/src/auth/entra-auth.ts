import { validateEntraAuthOptions } from '../auth/options.js'
import { storedTokenCheck } from '../auth/stored-token-check.js'
import { isPgEntraError, PgEntraError } from '../errors/pg-entra-error.js'
import { wrongAudienceError } from '../identity/audience.js'
import { type Claims, databaseUserOf, decodeJwtPayload, identityFromClaims } from '../identity/claims.js'
import { classifyCredentialError } from '../identity/classify-error.js'
import { resolveCloud } from '../identity/cloud.js'
import {
  buildCredential,
  type CredentialPlan,
  describePlan,
  type Env,
  type IdentityLoader,
  identityKey,
  loadAzureIdentity,
  managedIdentityEndpointIn,
  planCredential,
  planSecrets,
} from '../identity/credential.js'
import type { AccessToken, GetTokenOptions, TokenCredential } from '../shared/access-token.js'
import { systemClock } from '../shared/clock.js'
import { recordLoginRefused } from '../telemetry/login.js'
import { createTelemetry, type Telemetry } from '../telemetry/telemetry.js'
import { abandonLogin, assertPgCallerVerified, pgCallerOf, watchForRefusal } from '../tls/pg-caller.js'
import { createTokenSource } from '../token/token-source.js'
import type { EntraAuth, EntraAuthEvent, EntraAuthLogger, EntraAuthOptions, TokenIdentity } from './types.js'

/** How a user-assigned managed identity's id is named to the user. */
const userAssignedIdNames: Record<string, string> = {
  clientId: 'client id',
  resourceId: 'resource id',
  objectId: 'object id',
}

const BRAND = Symbol.for('pg-entra.auth')
const inspectSymbol = Symbol.for('nodejs.util.inspect.custom')
const DEFAULT_REFRESH_BEFORE_MINUTES = 5
/** How often a token the database refused may make pg-entra fetch a new one. */
const INVALIDATION_COOLDOWN_MS = 30_000

/** The telemetry of each EntraAuth of this copy of pg-entra (the kernel counts refused and retried logins). */
const telemetries = new WeakMap<EntraAuth, Telemetry>()

/** @internal Test seams: the environment read and how @azure/identity is loaded. */
export interface EntraAuthDependencies {
  env?: Env
  loadIdentity?: IdentityLoader
}

/** True for an EntraAuth from any copy of pg-entra. */
export function isEntraAuth(value: unknown): value is EntraAuth {
  return typeof value === 'object' && value !== null && BRAND in value
}

/** The EntraAuth's telemetry (the kernel counts refused and retried logins through it), if it has any. */
export function telemetryOf(auth: EntraAuth): Telemetry | undefined {
  return telemetries.get(auth)
}

/**
 * The one object an application holds: a token source over an Entra credential. Options are validated now (an
 * INVALID_OPTION error is thrown at once); @azure/identity is loaded and the credential built on the first token request.
 */
export function entraAuth(options?: EntraAuthOptions): EntraAuth {
  return createEntraAuth(options)
}

/** @internal entraAuth with its environment and @azure/identity loader injectable. */
export function createEntraAuth(
  input: EntraAuthOptions | undefined,
  dependencies: EntraAuthDependencies = {},
): EntraAuth {
  const options = validateEntraAuthOptions(input)
  const env = dependencies.env ?? process.env
  const cloud = resolveCloud(options, env.AZURE_AUTHORITY_HOST)
  const plan = planCredential(options, env)
  const load = dependencies.loadIdentity ?? loadAzureIdentity
  const secrets = planSecrets(plan)
  const tenantId = 'tenantId' in plan ? plan.tenantId : undefined
  const clientId = 'clientId' in plan ? plan.clientId : undefined
  const description = describePlan(plan)
  const managedIdentityAt = plan.kind === 'managedIdentity' && !managedIdentityEndpointIn(env) ? 'imds' : undefined
  const [asked] = plan.kind === 'managedIdentity' && plan.userAssigned ? Object.entries(plan.userAssigned) : []
  const managedIdentityAsked = asked && `${userAssignedIdNames[asked[0]] ?? asked[0]} ${asked[1]}`
  const listeners = new Set<(event: EntraAuthEvent) => void>()
  const logger = options.logger

  let credential: Promise<TokenCredential> | undefined
  const getCredential = (): Promise<TokenCredential> => {
    credential ??= buildCredential(plan, cloud, options.authorityCa, load).catch((error: unknown) => {
      credential = undefined
      throw isPgEntraError(error) ? error : classifyCredentialError(error, { secrets, tenantId, clientId })
    })
    return credential
  }

  const clock = options.clock ?? systemClock
  // After the database refused a token (or on an explicit refresh) the credential's own cache would hand the same
  // token back (MSAL serves it until 5 minutes before expiry). A CAE-style claims request for a token issued from
  // now on makes MSAL skip its cache for the client-credential flows (secret, certificate, workload identity).
  let skipCredentialCache = false
  const fetchToken = async (signal: AbortSignal): Promise<AccessToken> => {
    const pending = getCredential()
    const made = await pending
    const getTokenOptions: GetTokenOptions & { claims?: string } = { abortSignal: signal }
    if (skipCredentialCache) {
      skipCredentialCache = false
      getTokenOptions.claims = freshTokenClaims(clock.now())
    }
    let token: AccessToken | null
    try {
      token = await made.getToken(cloud.scope, getTokenOptions)
    } catch (error) {
      const classified = classifyCredentialError(error, {
        secrets,
        tenantId,
        clientId,
        authorityHost: cloud.authorityHost,
        managedIdentityAt,
        managedIdentityAsked,
      })
      // @azure/identity 4.13 (MSAL's throttling cache) replays a 5xx or 429 answer for 60 s without asking Entra (it
      // misses a lower-cased Retry-After): longer than pg-entra's backoff waits and than short tokens live. That
      // cache belongs to one credential, so a credential pg-entra built for a client flow is dropped after such a
      // failure and the next attempt really asks (at the cost of one metadata request). Managed identity requests
      // are not throttled that way (measured: the same credential asks again at once), and its cache is process-wide.
      if (classified.code === 'ENTRA_UNREACHABLE' && replaysFailures(plan) && credential === pending) {
        credential = undefined
      }
      throw classified
    }
    if (!token?.token) {
      throw new PgEntraError('TOKEN_UNAVAILABLE', `the credential (${description}) returned no token`, {
        hint: 'check that the credential can issue tokens for the scope',
        details: { scope: cloud.scope },
      })
    }
    // The database would refuse it: failing here keeps the last good token serving. The credential may have cached
    // it (MSAL does for tokens living over 5 min), so the next request asks it to skip that cache.
    const wrongAudience = wrongAudienceError(token.token, cloud.scope)
    if (wrongAudience) {
      skipCredentialCache = true
      throw wrongAudience
    }
    return {
      token: token.token,
      expiresOnTimestamp: token.expiresOnTimestamp,
      ...(token.refreshAfterTimestamp !== undefined ? { refreshAfterTimestamp: token.refreshAfterTimestamp } : {}),
      ...(token.tokenType !== undefined ? { tokenType: token.tokenType } : {}),
    }
  }

  const onEvent = (event: EntraAuthEvent): void => {
    logEvent(logger, event)
    for (const listener of listeners) {
      try {
        listener(event)
      } catch {
        // a listener's failure must not break token delivery
      }
    }
  }

  const storedTokens = storedTokenCheck(plan, cloud.scope)
  const telemetry =
    options.telemetry === false
      ? undefined
      : createTelemetry(options.telemetry, {
          identityKind: plan.kind,
          tenantId,
          store: options.cache?.kind ?? 'memory',
        })

  const source = createTokenSource({
    fetchToken: storedTokens.pinning(fetchToken),
    checkStored: storedTokens.check,
    clock,
    ...(options.random ? { random: options.random } : {}),
    refreshBeforeMs: (options.refreshBeforeMinutes ?? DEFAULT_REFRESH_BEFORE_MINUTES) * 60_000,
    ...(options.requestTimeoutMs !== undefined ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
    ...(options.cache ? { store: options.cache } : {}),
    storeKey: `${cloud.authorityHost}|${identityKey(plan, env)}|${cloud.scope}`,
    onEvent,
    ...(telemetry ? { instrumentation: telemetry.instrumentation } : {}),
  })
  telemetry?.observeTokenExpiry(
    () => source.stats().expiresOn,
    () => clock.now(),
  )

  const stopStoreWarnings = options.cache?.onWarning?.((error) => onEvent({ type: 'warning', error }))

  let lastIdentity: { token: string; claims: Claims; identity: TokenIdentity } | undefined
  const identityOf = (token: string) => {
    if (lastIdentity?.token !== token) {
      const claims = decodeJwtPayload(token)
      lastIdentity = { token, claims, identity: identityFromClaims(claims) }
    }
    return lastIdentity
  }

  const summary = () => ({
    identity: description,
    scope: cloud.scope,
    authorityHost: cloud.authorityHost,
    cache: options.cache?.kind ?? 'memory',
  })

  const allowUnverifiedTls = options.allowUnverifiedTls === true
  let lastInvalidation: number | undefined
  // The token leaves here. Called by node-postgres as client.password(...), it goes only to a socket that is verified
  // TLS for the host connected to (unless allowUnverifiedTls), and a login the server refuses forgets the token.
  async function password(this: unknown): Promise<string> {
    const caller = pgCallerOf(this)
    try {
      if (caller && !allowUnverifiedTls) assertPgCallerVerified(caller)
      const { token } = await source.get()
      if (caller) {
        watchForRefusal(caller, (sqlState) => {
          recordLoginRefused(telemetry, { sqlState })
          auth.invalidate(token)
        })
      }
      return token
    } catch (error) {
      if (caller) abandonLogin(caller)
      throw error
    }
  }

  const auth: EntraAuth & { toJSON(): unknown } = {
    password,
    token: () => source.get(),
    async principal() {
      const { identity, claims } = identityOf((await source.get()).token)
      return databaseUserOf(identity, claims)
    },
    async identity() {
      return identityOf((await source.get()).token).identity
    },
    refresh() {
      skipCredentialCache = true
      return source.refresh()
    },
    invalidate(token: string) {
      // A refused token is forgotten at most once per cooldown: a role that is not mapped refuses every token, and
      // an application reconnecting in a loop must not turn that into a loop of token requests.
      const now = clock.now()
      if (lastInvalidation !== undefined && now - lastInvalidation < INVALIDATION_COOLDOWN_MS) return
      if (!source.invalidate(token)) return
      lastInvalidation = now
      skipCredentialCache = true
    },
    stats: () => source.stats(),
    health: () => source.health(),
    on(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    scope: cloud.scope,
    allowUnverifiedTls,
    async close() {
      source.close()
      await telemetry?.close()
      stopStoreWarnings?.()
      listeners.clear()
    },
    toJSON: summary,
  }
  Object.defineProperty(auth, BRAND, { value: true, enumerable: false })
  if (telemetry) telemetries.set(auth, telemetry)
  Object.defineProperty(auth, inspectSymbol, {
    value: () => `EntraAuth ${JSON.stringify(summary())}`,
    enumerable: false,
  })
  Object.defineProperty(auth, 'toJSON', { enumerable: false })
  return auth
}

/** Whether the credential pg-entra builds for `plan` is an MSAL client application, whose throttling cache replays failures. */
function replaysFailures(plan: CredentialPlan): boolean {
  return plan.kind === 'clientSecret' || plan.kind === 'clientCertificate' || plan.kind === 'workloadIdentity'
}

/** A claims request (as in a CAE challenge) for an access token issued no earlier than `now`. */
export function freshTokenClaims(now: number): string {
  return JSON.stringify({ access_token: { nbf: { essential: true, value: String(Math.floor(now / 1000)) } } })
}

function logEvent(logger: EntraAuthLogger | undefined, event: EntraAuthEvent): void {
  if (!logger) return
  try {
    switch (event.type) {
      case 'token':
        logger.info?.('pg-entra: token acquired', {
          source: event.source,
          fingerprint: event.fingerprint,
          expiresOn: new Date(event.expiresOn).toISOString(),
          refreshAt: new Date(event.refreshAt).toISOString(),
        })
        break
      case 'refresh-failed':
        logger.warn?.(`pg-entra: token refresh failed: ${event.error.message}`, {
          code: event.error.code,
          hint: event.error.hint,
          attempt: event.attempt,
          retryAt: new Date(event.retryAt).toISOString(),
        })
        break
      case 'warning':
        logger.warn?.(`pg-entra: ${event.error.message}`, { code: event.error.code, hint: event.error.hint })
        break
    }
  } catch {
    // a logger's failure must not break token delivery
  }
}
