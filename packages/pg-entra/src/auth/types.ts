import type { TokenStore } from '../cache/token-store.js'
import type { AccessToken, TokenCredential } from '../token/access-token.js'
import type { Clock } from '../token/clock.js'
import type { EntraAuthEvent, EntraAuthStats } from '../token/events.js'

export type { EntraAuthEvent, EntraAuthStats }

export type CloudName = 'public' | 'china' | 'usgov'

export interface EntraAuthOptions {
  // Who. Exactly one of credential, managedIdentity, clientSecret, certificatePath, federatedTokenFile (tenantId and
  // clientId fall back to AZURE_TENANT_ID / AZURE_CLIENT_ID). With none of them, the environment decides, in this
  // order: AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH, AZURE_FEDERATED_TOKEN_FILE (each with AZURE_TENANT_ID and
  // AZURE_CLIENT_ID); a managed identity when IDENTITY_ENDPOINT, MSI_ENDPOINT or AZURE_POD_IDENTITY_AUTHORITY_HOST is
  // set (user-assigned when AZURE_CLIENT_ID is); and only then, as a last resort, DefaultAzureCredential (developer
  // tools such as the Azure CLI, and the IMDS endpoint of a VM).
  /** Any TokenCredential (an @azure/identity credential, or your own). Takes precedence over everything else. */
  credential?: TokenCredential
  tenantId?: string
  clientId?: string
  clientSecret?: string
  /** PEM file holding the private key and the certificate, for a service principal with a certificate. */
  certificatePath?: string
  certificatePassword?: string
  /** Workload identity: the file holding the federated (Kubernetes service account) token. */
  federatedTokenFile?: string
  /** true for the system-assigned identity; `{ clientId }` or `{ resourceId }` for a user-assigned one. */
  managedIdentity?: true | { clientId?: string; resourceId?: string; objectId?: string }

  // Where.
  cloud?: CloudName
  /** Overrides the cloud's scope, e.g. 'https://ossrdbms-aad.database.windows.net/.default'. */
  scope?: string
  /** Overrides the cloud's authority host. A non-Microsoft host turns instance discovery off. */
  authorityHost?: string
  /** PEM CA(s) to trust for the authority host (e.g. pg-entra-emulator's CA). */
  authorityCa?: string | Buffer

  // When.
  /** Refresh when the token has less than this left (default 5), unless the credential says when. */
  refreshBeforeMinutes?: number
  /**
   * A token request (metadata and token endpoint together) that takes longer is abandoned and counts as a failed
   * refresh (ENTRA_UNREACHABLE), retried with backoff while the last token serves. Default 30000 ms.
   */
  requestTimeoutMs?: number

  /**
   * Lets a token travel over a connection without verified TLS (ssl: false, rejectUnauthorized: false, sslmode
   * disable/prefer/require-without-verification). Off by default; only for a trusted local network.
   */
  allowUnverifiedTls?: boolean

  /** Where tokens are shared (default: this process's memory). */
  cache?: TokenStore
  /** Receives refreshes, failures and warnings; secrets never reach it. */
  logger?: EntraAuthLogger

  /** @internal Tests inject time. */
  clock?: Clock
  /** @internal Tests inject randomness for jitter. */
  random?: () => number
}

export interface EntraAuthLogger {
  debug?(message: string, fields?: Record<string, unknown>): void
  info?(message: string, fields?: Record<string, unknown>): void
  warn?(message: string, fields?: Record<string, unknown>): void
  error?(message: string, fields?: Record<string, unknown>): void
}

/** The identity behind a token, read from its claims (the token itself is not verified here). */
export interface TokenIdentity {
  kind: 'user' | 'servicePrincipal' | 'managedIdentity' | 'unknown'
  /** The database role name to connect as, when derivable. */
  databaseUser: string | undefined
  displayName: string | undefined
  objectId: string | undefined
  tenantId: string | undefined
  appId: string | undefined
  upn: string | undefined
  managedIdentityResourceId: string | undefined
  audience: string | undefined
  issuer: string | undefined
  expiresOn: number | undefined
  /** Object ids in the token's `groups` claim: a member may connect as a group's role with its own token. */
  groups: string[]
}

export interface EntraAuth {
  /** A function to hand to any driver; resolves without a network call once a token is cached. */
  readonly password: () => Promise<string>
  /** The current token with its expiry; concurrent callers share one request. */
  token(): Promise<AccessToken>
  /** The database user name derived from the token's claims, or a USER_NOT_DERIVABLE error listing them. */
  principal(): Promise<string>
  identity(): Promise<TokenIdentity>
  /** Fetch a new token now (one request however many callers). */
  refresh(): Promise<AccessToken>
  /** Forget `token` (the database refused it), so the next call fetches a new one. */
  invalidate(token: string): void
  stats(): EntraAuthStats
  on(listener: (event: EntraAuthEvent) => void): () => void
  readonly scope: string
  /** Stops every timer; later calls fail with CLOSED. */
  close(): Promise<void>
}
