// node-postgres (pg) with Entra ID: run against Azure, or pg-entra-emulator with the environment it prints:
//   npx tsx examples/pg/main.ts
// Everything comes from the environment: PGHOST, PGPORT, PGDATABASE, PGUSER (optional for a managed identity),
// PGSSLMODE, PGSSLROOTCERT and AZURE_* (or IDENTITY_ENDPOINT/IDENTITY_HEADER for a managed identity).
import { createPool } from 'pg-entra/pg'
import { describe, exampleSettings, report, runPasses } from '../_shared/example.js'

const settings = exampleSettings()
let connectionsCreated = 0

// A real pg.Pool whose password is the token function: pg calls it for every new connection, and maxLifetimeSeconds
// makes the pool replace old connections, so connections keep opening (with the current token) as tokens roll over.
const pool = createPool({
  entra: {}, // credential from the environment
  max: 4,
  idleTimeoutMillis: 1_000,
  maxLifetimeSeconds: settings.connectionLifetimeSeconds,
})
pool.on('connect', () => {
  connectionsCreated++
})
// An idle connection the server closes must not crash the app; the pool opens a new one when it needs one.
pool.on('error', (error) => console.error(`idle connection lost: ${describe(error)}`))

try {
  await pool.query('create table if not exists example_pg_items (id serial primary key, name text not null)')
  const { rows: me } = await pool.query<{ user: string }>('select current_user as user')

  const summary = await runPasses('pg', settings, async () => {
    const { rows: written } = await pool.query<{ id: number; pid: number }>(
      'insert into example_pg_items (name) values ($1) returning id, pg_backend_pid() as pid',
      [`item at ${new Date().toISOString()}`],
    )
    const { id, pid } = written[0]!
    const { rows: read } = await pool.query<{ name: string }>('select name from example_pg_items where id = $1', [id])
    if (read.length !== 1) throw new Error(`row ${id} was written but cannot be read back`)
    return { backendPid: pid }
  })
  report({ ...summary, connectionsCreated, user: me[0]!.user })
} finally {
  await pool.end() // also stops the token refresh the pool started
}
