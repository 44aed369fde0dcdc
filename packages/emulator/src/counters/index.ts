// Counters and a request log: how tests, in this process or another, prove what the emulator saw.
// Nothing recorded here may hold a secret or a token: callers pass fingerprints and redacted parameters.
import { createHash } from 'node:crypto'
import type { FrontEvent } from '../pg-front/types.js'

export interface IssuedTokenRecord {
  tokenId: string
  /** seconds since the epoch */
  issuedAt: number
  expiresAt: number
  /** sha256 prefix of the token */
  fingerprint: string
  via: 'token-endpoint' | 'managed-identity' | 'direct'
}

export interface PrincipalTokenCounters {
  requests: number
  issued: IssuedTokenRecord[]
  failures: number
  failuresInjected: number
}

export interface PgRoleCounters {
  accepted: number
  rejected: number
  /** uti of the token each accepted token connection carried, in order */
  tokenIds: string[]
  /** precise reasons of the rejections, in order */
  reasons: string[]
}

export interface Counters {
  tokenRequests: { total: number; byPrincipal: Record<string, PrincipalTokenCounters> }
  managedIdentityRequests: number
  metadataRequests: number
  jwksRequests: number
  failuresInjected: number
  /** every token the emulator issued, by principal name (token endpoint, managed identity and token()) */
  tokensIssued: number
  pg: {
    accepted: number
    rejected: number
    cancels: number
    byRole: Record<string, PgRoleCounters>
    /** rejections before a role was named (no TLS, malformed startup) */
    rejectedWithoutRole: { code: string; reason: string }[]
  }
}

export interface RequestLogEntry {
  time: string
  server: 'entra' | 'managed-identity'
  method: string
  path: string
  /** query and form parameters, secrets and assertions replaced by a redaction marker or a fingerprint */
  params: Record<string, string>
  status?: number
  principal?: string
  credential?: 'secret' | 'certificate' | 'federated' | 'managed-identity'
  error?: string
  injected?: string
  /** latency the knobs added before the answer */
  latencyMs?: number
  tokenId?: string
  tokenFingerprint?: string
}

const SECRET_PARAMS = new Set(['client_secret', 'client_assertion', 'assertion', 'password', 'refresh_token', 'code'])
const MAX_LOG = 5000
const MAX_PER_PRINCIPAL = 1000
/** distinct role names kept in pg.byRole; the least recently seen is dropped first */
export const MAX_ROLES_COUNTED = 1000

export function fingerprint(secret: string): string {
  return `sha256:${createHash('sha256').update(secret).digest('hex').slice(0, 12)}`
}

export function redactParams(params: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of params) out[k] = SECRET_PARAMS.has(k) ? `[redacted ${fingerprint(v)}]` : v
  return out
}

export interface CountersState {
  snapshot(): Counters
  log(): RequestLogEntry[]
  record(entry: RequestLogEntry): void
  tokenRequest(principal: string | undefined): void
  tokenIssued(principal: string, record: IssuedTokenRecord): void
  tokenFailure(principal: string | undefined, injected: boolean): void
  managedIdentityRequest(): void
  metadataRequest(): void
  jwksRequest(): void
  frontEvent(event: FrontEvent): void
}

function emptyCounters(): Counters {
  return {
    tokenRequests: { total: 0, byPrincipal: {} },
    managedIdentityRequests: 0,
    metadataRequests: 0,
    jwksRequests: 0,
    failuresInjected: 0,
    tokensIssued: 0,
    pg: { accepted: 0, rejected: 0, cancels: 0, byRole: {}, rejectedWithoutRole: [] },
  }
}

function capped<T>(list: T[], item: T, max: number): void {
  list.push(item)
  if (list.length > max) list.splice(0, list.length - max)
}

export function createCounters(): CountersState {
  const counters = emptyCounters()
  const entries: RequestLogEntry[] = []
  const principal = (name: string) => {
    counters.tokenRequests.byPrincipal[name] ??= { requests: 0, issued: [], failures: 0, failuresInjected: 0 }
    return counters.tokenRequests.byPrincipal[name]
  }
  // a Map keeps insertion order: re-inserting on use makes it an LRU, so clients inventing role names cannot grow it
  const roles = new Map<string, PgRoleCounters>()
  const role = (name: string) => {
    const found = roles.get(name) ?? { accepted: 0, rejected: 0, tokenIds: [], reasons: [] }
    roles.delete(name)
    roles.set(name, found)
    if (roles.size > MAX_ROLES_COUNTED) roles.delete(roles.keys().next().value as string)
    return found
  }
  return {
    snapshot: () => structuredClone({ ...counters, pg: { ...counters.pg, byRole: Object.fromEntries(roles) } }),
    log: () => structuredClone(entries),
    record: (entry) => capped(entries, entry, MAX_LOG),
    tokenRequest(name) {
      counters.tokenRequests.total++
      if (name !== undefined) principal(name).requests++
    },
    tokenIssued(name, record) {
      counters.tokensIssued++
      capped(principal(name).issued, record, MAX_PER_PRINCIPAL)
    },
    tokenFailure(name, injected) {
      if (injected) counters.failuresInjected++
      if (name === undefined) return
      principal(name).failures++
      if (injected) principal(name).failuresInjected++
    },
    managedIdentityRequest: () => void counters.managedIdentityRequests++,
    metadataRequest: () => void counters.metadataRequests++,
    jwksRequest: () => void counters.jwksRequests++,
    frontEvent(event) {
      if (event.type === 'cancel') {
        counters.pg.cancels++
      } else if (event.type === 'accepted') {
        counters.pg.accepted++
        const r = role(event.role)
        r.accepted++
        if (event.tokenId) capped(r.tokenIds, event.tokenId, MAX_PER_PRINCIPAL)
      } else {
        counters.pg.rejected++
        if (event.role === undefined) {
          capped(counters.pg.rejectedWithoutRole, { code: event.code, reason: event.reason }, MAX_PER_PRINCIPAL)
        } else {
          const r = role(event.role)
          r.rejected++
          capped(r.reasons, event.reason, MAX_PER_PRINCIPAL)
        }
      }
    },
  }
}
