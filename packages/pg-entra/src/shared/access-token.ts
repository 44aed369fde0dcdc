/** The shape @azure/core-auth's AccessToken has; declared here so pg-entra does not depend on it. */
export interface AccessToken {
  token: string
  expiresOnTimestamp: number
  refreshAfterTimestamp?: number
  tokenType?: string
}

export interface GetTokenOptions {
  abortSignal?: AbortSignal
  tenantId?: string
}

/** Any @azure/identity credential, or anything with the same getToken. */
export interface TokenCredential {
  getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null>
}
