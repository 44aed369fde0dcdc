export const OSSRDBMS_RESOURCE = 'https://ossrdbms-aad.database.windows.net'
export const OSSRDBMS_SCOPE = `${OSSRDBMS_RESOURCE}/.default`
/** The audience a 'wrong-audience' failure and negative tests use: a real resource that is not the database's. */
export const WRONG_AUDIENCE = 'https://management.azure.com'
/** Azure CLI's public client id: the appid of a user's token obtained with `az login`. */
export const AZURE_CLI_APP_ID = '04b07795-8ddb-461a-bbee-02f9e1bf7b46'
export const FEDERATED_AUDIENCE = 'api://AzureADTokenExchange'

export function v1Issuer(tenantId: string): string {
  return `https://sts.windows.net/${tenantId}/`
}

export function v2Issuer(authorityHost: string, tenantId: string): string {
  return `${authorityHost}/${tenantId}/v2.0`
}

/** What the v2 endpoint makes of a client-credentials `scope`: the resource, or Entra's refusal. */
export type ScopeVerdict = { resource: string } | { status: number; error: string; code: number; description: string }

const OIDC_SCOPES = new Set(['openid', 'profile', 'email', 'offline_access'])

/**
 * As Entra reads a client-credentials `scope`: exactly one resource, as `<resource>/.default` (MSAL's OpenID scopes
 * beside it are ignored). `https://x/.default` gives `https://x`, a trailing slash kept (the audience as asked).
 */
export function resourceFromScope(scope: string | null): ScopeVerdict {
  const parts = (scope ?? '').split(' ').filter(Boolean)
  const asked = parts.filter((part) => !OIDC_SCOPES.has(part.toLowerCase()))
  if (asked.length === 0) {
    return {
      status: 400,
      error: 'invalid_request',
      code: 900144,
      description: "The request body must contain the following parameter: 'scope'.",
    }
  }
  const resourceOf = (part: string) => (part.endsWith('/.default') ? part.slice(0, -'/.default'.length) : part)
  const resources = new Set(asked.map((part) => resourceOf(part).replace(/\/$/, '').toLowerCase()))
  if (resources.size > 1) {
    return {
      status: 400,
      error: 'invalid_scope',
      code: 28000,
      description: `Provided value for the input parameter scope is not valid because it contains more than one resource. Scope ${asked.join(' ')} is not valid.`,
    }
  }
  const notDefault = asked.find((part) => !part.endsWith('/.default'))
  if (notDefault !== undefined) {
    return {
      status: 400,
      error: 'invalid_scope',
      code: 1002012,
      description: `The provided value for scope ${notDefault} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
    }
  }
  return { resource: resourceOf(asked[0]!) }
}

/** resources the emulator issues tokens for, compared without a trailing slash */
export function isKnownResource(resource: string | undefined): boolean {
  return resource !== undefined && resource.replace(/\/$/, '') === OSSRDBMS_RESOURCE
}
