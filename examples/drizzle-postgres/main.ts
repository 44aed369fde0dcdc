// Drizzle ORM on postgres.js with Entra ID: run against Azure, or pg-entra-emulator with the environment it prints:
//   npx tsx examples/drizzle-postgres/main.ts
// Everything comes from the environment: PGHOST, PGPORT, PGDATABASE, PGUSER, PGSSLMODE, PGSSLROOTCERT, AZURE_*.
import { eq, sql } from 'drizzle-orm'
import { pgTable, serial, text } from 'drizzle-orm/pg-core'
import { drizzlePostgres } from 'pg-entra/drizzle'
import { exampleSettings, report, runPasses } from '../_shared/example.js'

const items = pgTable('example_drizzle_postgres_items', {
  id: serial('id').primaryKey(),
  name: text('name').notNull(),
})

const settings = exampleSettings()

// Drizzle queries through pg-entra/postgres's client: a token for every new connection, TLS verified whatever
// postgres.js's ssl mode says; max_lifetime makes postgres.js replace old connections.
const db = await drizzlePostgres(
  { entra: {}, max: 2, max_lifetime: settings.connectionLifetimeSeconds },
  { schema: { items } },
)

await db.execute(sql`
  create table if not exists example_drizzle_postgres_items (id serial primary key, name text not null)`)

const summary = await runPasses('drizzle-postgres', settings, async () => {
  const [inserted] = await db
    .insert(items)
    .values({ name: `item at ${new Date().toISOString()}` })
    .returning({ id: items.id })
  const [read] = await db.select().from(items).where(eq(items.id, inserted!.id))
  if (!read) throw new Error(`row ${inserted!.id} was written but cannot be read back`)
  const [backend] = await db.execute<{ pid: number }>(sql`select pg_backend_pid() as pid`)
  return { backendPid: backend!.pid }
})

await db.$client.end()
report(summary)
