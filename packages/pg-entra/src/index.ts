export type {
  CloudName,
  EntraAuth,
  EntraAuthEvent,
  EntraAuthLogger,
  EntraAuthOptions,
  EntraAuthStats,
  TokenIdentity,
} from './auth/types.js'
export type { Lease, StoredToken, TokenStore } from './cache/token-store.js'
export { isPgEntraError, PgEntraError, type PgEntraErrorCode } from './errors/pg-entra-error.js'
export type { AccessToken, TokenCredential } from './token/access-token.js'
