// Drizzle ORM on pg (node-postgres) with Entra ID: run against Azure, or pg-entra-emulator with the environment it
// prints:
//   npx tsx examples/drizzle-pg/main.ts
// Everything comes from the environment: PGHOST, PGPORT, PGDATABASE, PGUSER, PGSSLMODE, PGSSLROOTCERT, AZURE_*.
import { eq, sql } from 'drizzle-orm'
import { pgTable, serial, text } from 'drizzle-orm/pg-core'
import { drizzlePg } from 'pg-entra/drizzle'
import { exampleSettings, report, runPasses } from '../_shared/example.js'

const items = pgTable('example_drizzle_pg_items', {
  id: serial('id').primaryKey(),
  name: text('name').notNull(),
})

const settings = exampleSettings()

// Drizzle queries through pg-entra/pg's Pool: a token for every new connection, the user from PGUSER (or the token),
// TLS verified; maxLifetimeSeconds makes the pool replace old connections.
const db = await drizzlePg(
  { entra: {}, max: 2, maxLifetimeSeconds: settings.connectionLifetimeSeconds },
  { schema: { items } },
)

await db.execute(sql`
  create table if not exists example_drizzle_pg_items (id serial primary key, name text not null)`)

const summary = await runPasses('drizzle-pg', settings, async () => {
  const [inserted] = await db
    .insert(items)
    .values({ name: `item at ${new Date().toISOString()}` })
    .returning({ id: items.id })
  const [read] = await db.select().from(items).where(eq(items.id, inserted!.id))
  if (!read) throw new Error(`row ${inserted!.id} was written but cannot be read back`)
  const { rows } = await db.execute<{ pid: number }>(sql`select pg_backend_pid() as pid`)
  return { backendPid: rows[0]!.pid }
})

await db.$client.end()
report(summary)
