// The public shape of a running emulator, shared by startEmulator (in-process) and connectEmulator (remote).
import type { Counters, RequestLogEntry } from './counters/index.js'
import type { Principal, PrincipalSpec } from './directory/types.js'
import type { MintOptions } from './entra/tokens.js'
import type { FailNextOptions, Knobs } from './knobs/index.js'
import type { PgBouncerOptions } from './pgbouncer/index.js'
import type { StartUpstreamOptions } from './upstream/index.js'

export type { Counters, RequestLogEntry } from './counters/index.js'
export type { Principal, PrincipalKind, PrincipalSpec, RoleSpec } from './directory/types.js'
export type { MintOptions } from './entra/tokens.js'
export type { FailNextOptions, FailureMode, Knobs, PrincipalKnobs } from './knobs/index.js'
export type { PgBouncerOptions } from './pgbouncer/index.js'

export type Profile = 'managed-identity' | 'service-principal'

export interface StartEmulatorOptions {
  tenantId?: string
  /** default 3599 */
  tokenLifetimeSeconds?: number
  /** when set, token responses carry refresh_in */
  refreshInSeconds?: number
  principals?: PrincipalSpec[]
  /** default: embedded PostgreSQL in a temp dir */
  upstream?: StartUpstreamOptions
  /** CA, certificates, token files; default a temp dir removed at stop */
  workDir?: string
  /** default 'postgres' */
  database?: string
  /** default: free ports */
  ports?: { entra?: number; managedIdentity?: number; pg?: number; pgbouncer?: number; control?: number }
  /** progress and the front's rejections with their reasons; never a secret */
  log?: (line: string) => void
  /** skew allowed on exp/nbf when the front checks tokens; default 60 */
  clockSkewSeconds?: number
  /** client connections the front holds at once; one more is refused with 53300; default 200 */
  maxConnections?: number
  /**
   * A second front, like Azure's port 6432: the same Entra check, then a real PgBouncer (Debian's `pgbouncer`) in
   * transaction mode. Fails with PGBOUNCER_NOT_INSTALLED when the binary is missing.
   */
  pgbouncer?: boolean | PgBouncerOptions
  /**
   * Azure's `azure.extensions`: the extensions a non-superuser may CREATE EXTENSION; others are refused with Azure's
   * text. Default: none, Azure's default. Set on the embedded upstream, and on an external one only when given.
   */
  extensions?: string[]
}

export interface EmulatorKnobs {
  /** the last known knobs (remote: as of the last call that changed or read them) */
  get(): Knobs
  set(patch: Partial<Knobs>): Promise<void>
  failNext(failure: FailNextOptions): Promise<void>
  /** everything back to the start values; with a principal, only its overrides and scoped failures */
  reset(scope?: { principal?: string }): Promise<void>
}

export interface PgEndpoint {
  host: string
  port: number
  database: string
  /** a password role (superuser) that connects through the front with adminPassword */
  adminUser: string
  adminPassword: string
}

export interface EmulatorDescription {
  tenantId: string
  /** https://127.0.0.1:port */
  authorityHost: string
  /** https://ossrdbms-aad.database.windows.net/.default */
  scope: string
  resource: string
  issuers: { v1: string; v2: string }
  jwksUri: string
  /** PEM of the emulator's CA */
  ca: string
  caPath: string
  workDir: string
  managedIdentity: {
    /** IDENTITY_ENDPOINT */
    endpoint: string
    /** IDENTITY_HEADER */
    header: string
    /** AZURE_POD_IDENTITY_AUTHORITY_HOST */
    imdsHost: string
  }
  pg: PgEndpoint
  /** the PgBouncer port (host, port, database), when started with `pgbouncer` */
  pgbouncer?: { host: string; port: number; database: string }
  controlUrl: string
}

export interface RemoteEmulator extends EmulatorDescription {
  /** as of the last call that added a principal */
  principals: Principal[]
  principal(name: string): Principal
  /** also creates its role unless role: false */
  addPrincipal(spec: PrincipalSpec): Promise<Principal>
  createPasswordRole(name: string, password: string): Promise<void>
  /** a token as Entra would issue it to this principal */
  token(principalName: string, opts?: { lifetimeSeconds?: number }): Promise<string>
  /** any claims, any defects: for negative tests */
  mintToken(claims: Record<string, unknown>, opts?: MintOptions): Promise<string>
  /** the environment an application needs, as `pg-entra-emulator start` prints it */
  env(opts?: { profile?: Profile; principal?: string }): Record<string, string>
  knobs: EmulatorKnobs
  counters(): Promise<Counters>
  /** secrets and tokens redacted */
  requestLog(): Promise<RequestLogEntry[]>
}

export interface Emulator extends RemoteEmulator {
  stop(): Promise<void>
}
