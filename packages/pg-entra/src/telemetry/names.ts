// Instrument, span and attribute names, in OpenTelemetry's semantic-convention style (dotted lower-case namespaces,
// units in UCUM: seconds for durations). docs/telemetry.md describes each one.

export const METER_NAME = 'pg-entra'

export const INSTRUMENTS = {
  tokenRequestDuration: 'pg_entra.token.request.duration',
  tokenTimeToExpiry: 'pg_entra.token.time_to_expiry',
  cacheLookups: 'pg_entra.cache.lookups',
  leaseOutcomes: 'pg_entra.lease.outcomes',
  loginRefused: 'pg_entra.login.refused',
  loginRetried: 'pg_entra.login.retried',
} as const

export const SPANS = {
  tokenRequest: 'pg_entra.token.request',
  /** Followed by the store operation: pg_entra.cache.get, .set, .lease.acquire, .lease.release. */
  cachePrefix: 'pg_entra.cache.',
} as const

export const ATTRIBUTES = {
  identityKind: 'pg_entra.identity.kind',
  tenantId: 'pg_entra.tenant.id',
  store: 'pg_entra.cache.store',
  cacheResult: 'pg_entra.cache.result',
  leaseOutcome: 'pg_entra.lease.outcome',
  errorType: 'error.type',
  sqlState: 'db.response.status_code',
} as const

/** Bucket boundaries (seconds) for token requests: a cached answer takes milliseconds, a slow Entra seconds. */
export const TOKEN_REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
