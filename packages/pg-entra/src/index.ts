export { entraAuth } from './auth/entra-auth.js'
export type {
  CloudName,
  EntraAuth,
  EntraAuthEvent,
  EntraAuthLogger,
  EntraAuthOptions,
  EntraAuthStats,
  Health,
  TelemetryOption,
  TokenIdentity,
} from './auth/types.js'
export type { EncryptionKey } from './cache/encryption.js'
export { type FileCacheOptions, type FileTokenStore, fileCache } from './cache/file-cache.js'
export { memoryCache } from './cache/memory-cache.js'
export {
  type IoRedisClientLike,
  type NodeRedisClientLike,
  type RedisCacheOptions,
  type RedisClientLike,
  type RedisTokenStore,
  redisCache,
} from './cache/redis-cache.js'
export type { Lease, StoredToken, TokenStore } from './cache/token-store.js'
export { isPgEntraError, PgEntraError, type PgEntraErrorCode } from './errors/pg-entra-error.js'
export type { AccessToken, GetTokenOptions, TokenCredential } from './shared/access-token.js'
