// pg-promise on Azure Database for PostgreSQL with Entra ID: `npx tsx examples/pg-promise/main.ts`, configured from
// the environment (PGHOST, PGPORT, PGDATABASE, PGSSLMODE, PGSSLROOTCERT and AZURE_* for the credential).

import { pgPromiseConnection } from 'pg-entra/pg-promise'
import pgPromise from 'pg-promise'
import { exampleSettings, report, runPasses } from '../_shared/example.js'

const settings = exampleSettings()
let connectionsCreated = 0

const pgp = pgPromise({
  connect({ useCount }) {
    if (useCount === 0) connectionsCreated++
  },
})
const db = pgp(
  await pgPromiseConnection({
    entra: {}, // everything from the environment
    max: 4,
    idleTimeoutMillis: 1_000,
    maxLifetimeSeconds: settings.connectionLifetimeSeconds,
  }),
)

try {
  await db.none(`create table if not exists example_pg_promise_items (
    id serial primary key,
    name text not null,
    created_at timestamptz not null default now()
  )`)

  const summary = await runPasses('pg-promise', settings, async () => {
    const { id } = await db.one<{ id: number }>(
      'insert into example_pg_promise_items (name) values ($1) returning id',
      [`item ${new Date().toISOString()}`],
    )
    const item = await db.one<{ id: number; name: string }>('select * from example_pg_promise_items where id = $1', [
      id,
    ])
    if (item.id !== id) throw new Error(`read back item ${item.id}, expected ${id}`)
    const { pid } = await db.one<{ pid: number }>('select pg_backend_pid() as pid')
    return { backendPid: pid }
  })
  report({ ...summary, connectionsCreated })
} finally {
  pgp.end()
}
