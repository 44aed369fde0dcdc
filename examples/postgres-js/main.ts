// postgres.js with Entra ID: run against Azure, or pg-entra-emulator with the environment it prints:
//   npx tsx examples/postgres-js/main.ts
// Everything comes from the environment: PGHOST, PGPORT, PGDATABASE, PGUSER, PGSSLMODE, PGSSLROOTCERT, AZURE_*.
import { createPostgres } from 'pg-entra/postgres'
import { exampleSettings, report, runPasses } from '../_shared/example.js'

const settings = exampleSettings()

// `entra: {}`: the credential from AZURE_* (here a service principal), TLS verified, and postgres.js calls the token
// function for every new connection; max_lifetime makes the pool replace its connections as time goes on.
const sql = await createPostgres({ entra: {}, max: 2, max_lifetime: settings.connectionLifetimeSeconds })

await sql`
  create table if not exists example_postgres_js_items (
    id serial primary key,
    name text not null,
    created_at timestamptz not null default now()
  )`

const summary = await runPasses('postgres-js', settings, async () => {
  const [inserted] = await sql<{ id: number; pid: number }[]>`
    insert into example_postgres_js_items (name) values (${`item at ${new Date().toISOString()}`})
    returning id, pg_backend_pid() as pid`
  const [read] = await sql<{ name: string }[]>`select name from example_postgres_js_items where id = ${inserted!.id}`
  if (!read) throw new Error(`row ${inserted!.id} was written but cannot be read back`)
  return { backendPid: inserted!.pid }
})

await sql.end()
report(summary)
