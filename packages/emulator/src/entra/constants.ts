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

/** `https://x/.default` -> `https://x`; also accepts a bare resource */
export function resourceFromScope(scope: string | null): string | undefined {
  if (!scope) return undefined
  const parts = scope.split(' ').filter(Boolean)
  const def = parts.find((s) => s.endsWith('/.default'))
  if (def) return def.slice(0, -'/.default'.length)
  return parts.find((s) => /^(https?|api):\/\//.test(s))
}

/** resources the emulator issues tokens for, compared without a trailing slash */
export function isKnownResource(resource: string | undefined): boolean {
  return resource !== undefined && resource.replace(/\/$/, '') === OSSRDBMS_RESOURCE
}
