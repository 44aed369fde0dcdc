import pg from 'pg'

/** The superuser pool over the unix socket. Errors of idle clients (server stopping) are not fatal. */
export function createAdminPool(o: { socketDir: string; port: number; user: string; database: string }): pg.Pool {
  const pool = new pg.Pool({
    host: o.socketDir,
    port: o.port,
    user: o.user,
    database: o.database,
    max: 3,
    idleTimeoutMillis: 10_000,
    application_name: 'pg-entra-emulator',
    // The unix socket, trusted: never what the environment's PG* say (an app's PGSSLMODE=verify-full, say).
    ssl: false,
    password: '',
  })
  pool.on('error', () => {})
  return pool
}
