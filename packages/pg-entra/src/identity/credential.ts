import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import { PgEntraError } from '../errors/pg-entra-error.js'
import type { TokenCredential } from '../shared/access-token.js'
import type { ResolvedCloud } from './cloud.js'

export type Env = Readonly<Record<string, string | undefined>>

/** Who the identity is: the part of EntraAuthOptions the credential is built from. */
export interface CredentialOptions {
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
}

/** How the credential will be made; holds no secret values except where @azure/identity needs them. */
export type CredentialPlan =
  | { kind: 'given'; credential: TokenCredential }
  | { kind: 'clientSecret'; tenantId: string; clientId: string; clientSecret: string; from: 'options' | 'environment' }
  | {
      kind: 'clientCertificate'
      tenantId: string
      clientId: string
      certificatePath: string
      certificatePassword: string | undefined
      from: 'options' | 'environment'
    }
  | {
      kind: 'workloadIdentity'
      tenantId: string
      clientId: string
      tokenFilePath: string
      from: 'options' | 'environment'
    }
  | {
      kind: 'managedIdentity'
      /** undefined for the system-assigned identity. */
      userAssigned: { clientId: string } | { resourceId: string } | { objectId: string } | undefined
      from: 'options' | 'environment'
    }
  | { kind: 'default' }

function missing(option: string, envName: string, forWhat: string): PgEntraError {
  return new PgEntraError('INVALID_OPTION', `${option} is required for ${forWhat}`, {
    hint: `set ${option} or the ${envName} environment variable`,
    details: { option },
  })
}

function required(value: string | undefined, option: string, envName: string, forWhat: string): string {
  if (!value) throw missing(option, envName, forWhat)
  return value
}

/**
 * Decides which credential to build. Options win; then the variables @azure/identity's EnvironmentCredential and
 * WorkloadIdentityCredential read; then a managed identity when IDENTITY_ENDPOINT, MSI_ENDPOINT or
 * AZURE_POD_IDENTITY_AUTHORITY_HOST is set (user-assigned by AZURE_CLIENT_ID, as DefaultAzureCredential does); and
 * only with nothing at all, DefaultAzureCredential (which may try developer tools and the IMDS address).
 */
export function planCredential(options: CredentialOptions, env: Env): CredentialPlan {
  if (options.credential) return { kind: 'given', credential: options.credential }
  if (options.managedIdentity !== undefined) {
    const mi = options.managedIdentity
    const userAssigned =
      mi === true
        ? undefined
        : mi.clientId
          ? { clientId: mi.clientId }
          : mi.resourceId
            ? { resourceId: mi.resourceId }
            : mi.objectId
              ? { objectId: mi.objectId }
              : undefined
    return { kind: 'managedIdentity', userAssigned, from: 'options' }
  }
  const tenantId = options.tenantId ?? env.AZURE_TENANT_ID
  const clientId = options.clientId ?? env.AZURE_CLIENT_ID
  const applicationIds = (what: string) => ({
    tenantId: required(tenantId, 'tenantId', 'AZURE_TENANT_ID', what),
    clientId: required(clientId, 'clientId', 'AZURE_CLIENT_ID', what),
  })
  if (options.clientSecret) {
    return {
      kind: 'clientSecret',
      ...applicationIds('a service principal with a secret'),
      clientSecret: options.clientSecret,
      from: 'options',
    }
  }
  if (options.certificatePath) {
    return {
      kind: 'clientCertificate',
      ...applicationIds('a service principal with a certificate'),
      certificatePath: options.certificatePath,
      certificatePassword: options.certificatePassword,
      from: 'options',
    }
  }
  if (options.federatedTokenFile) {
    return {
      kind: 'workloadIdentity',
      ...applicationIds('workload identity'),
      tokenFilePath: options.federatedTokenFile,
      from: 'options',
    }
  }
  if (options.tenantId !== undefined || options.clientId !== undefined) {
    if (!env.AZURE_CLIENT_SECRET && !env.AZURE_CLIENT_CERTIFICATE_PATH && !env.AZURE_FEDERATED_TOKEN_FILE) {
      throw new PgEntraError(
        'INVALID_OPTION',
        'tenantId/clientId are given without a clientSecret, certificatePath or federatedTokenFile',
        {
          hint: 'add clientSecret (or certificatePath / federatedTokenFile), or set AZURE_CLIENT_SECRET',
          details: { option: 'clientSecret' },
        },
      )
    }
  }
  if (env.AZURE_CLIENT_SECRET && tenantId && clientId) {
    return { kind: 'clientSecret', tenantId, clientId, clientSecret: env.AZURE_CLIENT_SECRET, from: 'environment' }
  }
  if (env.AZURE_CLIENT_CERTIFICATE_PATH && tenantId && clientId) {
    return {
      kind: 'clientCertificate',
      tenantId,
      clientId,
      certificatePath: env.AZURE_CLIENT_CERTIFICATE_PATH,
      certificatePassword: env.AZURE_CLIENT_CERTIFICATE_PASSWORD,
      from: 'environment',
    }
  }
  if (env.AZURE_FEDERATED_TOKEN_FILE && tenantId && clientId) {
    return {
      kind: 'workloadIdentity',
      tenantId,
      clientId,
      tokenFilePath: env.AZURE_FEDERATED_TOKEN_FILE,
      from: 'environment',
    }
  }
  if (managedIdentityEndpointIn(env)) {
    return { kind: 'managedIdentity', userAssigned: clientId ? { clientId } : undefined, from: 'environment' }
  }
  return { kind: 'default' }
}

/**
 * Whether the environment names a managed-identity endpoint (App Service, Service Fabric, Cloud Shell, Machine
 * Learning, Azure Arc, an IMDS host of its own); without one, @azure/identity asks the IMDS address itself.
 */
export function managedIdentityEndpointIn(env: Env): boolean {
  return Boolean(
    env.IDENTITY_ENDPOINT || env.MSI_ENDPOINT || env.AZURE_POD_IDENTITY_AUTHORITY_HOST || env.IMDS_ENDPOINT,
  )
}

/** A one-line description safe to log: never a secret. */
export function describePlan(plan: CredentialPlan): string {
  switch (plan.kind) {
    case 'given':
      return `credential ${plan.credential.constructor?.name ?? 'object'}`
    case 'clientSecret':
      return `service principal ${plan.clientId} in tenant ${plan.tenantId} (secret from ${plan.from})`
    case 'clientCertificate':
      return `service principal ${plan.clientId} in tenant ${plan.tenantId} (certificate ${plan.certificatePath})`
    case 'workloadIdentity':
      return `workload identity ${plan.clientId} in tenant ${plan.tenantId} (token file ${plan.tokenFilePath})`
    case 'managedIdentity':
      return plan.userAssigned
        ? `user-assigned managed identity ${Object.entries(plan.userAssigned)[0]!.join(' ')}`
        : 'system-assigned managed identity'
    case 'default':
      return 'DefaultAzureCredential'
  }
}

/**
 * The part of a cache key that names the identity (authority and scope are added by the caller). A shared store
 * must never hand one identity's token to another, so where the identity is not known before a token is fetched
 * the key is narrowed: a system-assigned identity to its app (App Service, Container Apps) or host, a given
 * credential to its own EntraAuth, DefaultAzureCredential to the host.
 */
export function identityKey(plan: CredentialPlan, env: Env = {}, instance = randomUUID()): string {
  switch (plan.kind) {
    case 'given':
      return `given:${plan.credential.constructor?.name ?? 'object'}:${instance}`
    case 'clientSecret':
    case 'clientCertificate':
    case 'workloadIdentity':
      return `${plan.kind}:${plan.tenantId}:${plan.clientId}`
    case 'managedIdentity':
      return plan.userAssigned
        ? `managedIdentity:${Object.entries(plan.userAssigned)[0]!.join('=')}`
        : `managedIdentity:system:${env.WEBSITE_SITE_NAME ?? env.CONTAINER_APP_NAME ?? hostname()}`
    case 'default':
      // AZURE_TENANT_ID / AZURE_CLIENT_ID steer DefaultAzureCredential's choice: two apps on one host differ by them.
      return `default:${hostname()}:${env.AZURE_TENANT_ID ?? ''}:${env.AZURE_CLIENT_ID ?? ''}`
  }
}

/** Secrets the plan holds, for scrubbing error messages. */
export function planSecrets(plan: CredentialPlan): string[] {
  if (plan.kind === 'clientSecret') return [plan.clientSecret]
  if (plan.kind === 'clientCertificate' && plan.certificatePassword) return [plan.certificatePassword]
  return []
}

/** The slice of @azure/identity pg-entra uses, declared structurally so no type of it leaks into ours. */
export interface IdentityModule {
  ClientSecretCredential: new (tenantId: string, clientId: string, secret: string, options?: object) => TokenCredential
  ClientCertificateCredential: new (
    tenantId: string,
    clientId: string,
    certificate: { certificatePath: string; certificatePassword?: string },
    options?: object,
  ) => TokenCredential
  WorkloadIdentityCredential: new (options: object) => TokenCredential
  ManagedIdentityCredential: new (options?: object) => TokenCredential
  DefaultAzureCredential: new (options?: object) => TokenCredential
}

export type IdentityLoader = () => Promise<IdentityModule>

export const loadAzureIdentity: IdentityLoader = async () => {
  try {
    return (await import('@azure/identity')) as unknown as IdentityModule
  } catch (cause) {
    const { code, message } = cause as { code?: unknown; message?: unknown }
    const notFound = code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND'
    if (notFound && typeof message === 'string' && message.includes('@azure/identity')) {
      throw new PgEntraError('MISSING_DEPENDENCY', '@azure/identity is not installed', {
        hint: 'npm install @azure/identity (or pass your own credential)',
      })
    }
    throw cause
  }
}

export const credentialRetryOptions = Object.freeze({ maxRetries: 1, retryDelayInMs: 200, maxRetryDelayInMs: 2_000 })

/** Builds the @azure/identity credential for `plan`, loading @azure/identity only now. */
export async function buildCredential(
  plan: CredentialPlan,
  cloud: ResolvedCloud,
  authorityCa: string | Buffer | undefined,
  load: IdentityLoader = loadAzureIdentity,
): Promise<TokenCredential> {
  if (plan.kind === 'given') return plan.credential
  const identity = await load()
  const authority = {
    authorityHost: cloud.authorityHost,
    // pg-entra's token source retries with backoff while the last token serves; the HTTP pipeline's own retries
    // (3, with Retry-After honoured: 21 s for a 429 with Retry-After 7) would only keep the first caller waiting.
    retryOptions: credentialRetryOptions,
    ...(cloud.microsoftAuthority ? {} : { disableInstanceDiscovery: true }),
    ...(authorityCa ? { tlsOptions: { ca: authorityCa.toString() } } : {}),
  }
  switch (plan.kind) {
    case 'clientSecret':
      return new identity.ClientSecretCredential(plan.tenantId, plan.clientId, plan.clientSecret, authority)
    case 'clientCertificate':
      return new identity.ClientCertificateCredential(
        plan.tenantId,
        plan.clientId,
        plan.certificatePassword === undefined
          ? { certificatePath: plan.certificatePath }
          : { certificatePath: plan.certificatePath, certificatePassword: plan.certificatePassword },
        authority,
      )
    case 'workloadIdentity':
      return new identity.WorkloadIdentityCredential({
        tenantId: plan.tenantId,
        clientId: plan.clientId,
        tokenFilePath: plan.tokenFilePath,
        ...authority,
      })
    case 'managedIdentity':
      return new identity.ManagedIdentityCredential(plan.userAssigned ?? {})
    case 'default':
      return new identity.DefaultAzureCredential(authority)
  }
}
