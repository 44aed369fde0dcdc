// Kysely 0.29 on Azure Database for PostgreSQL with Entra ID: `npx tsx examples-current/kysely/main.ts` (Node >= 22), configured from the
// environment (PGHOST, PGPORT, PGDATABASE, PGSSLMODE, PGSSLROOTCERT and AZURE_* for the credential).
import { type Generated, Kysely, PostgresDialect, sql } from 'kysely'
import { kyselyDialectConfig } from 'pg-entra/kysely'
import { exampleSettings, report, runPasses } from '../../examples/_shared/example.js'

interface Database {
  example_kysely_029_items: { id: Generated<number>; name: string; created_at: Generated<Date> }
}

const settings = exampleSettings()
let connectionsCreated = 0

const db = new Kysely<Database>({
  dialect: new PostgresDialect({
    ...kyselyDialectConfig({
      entra: {}, // everything from the environment
      max: 4,
      idleTimeoutMillis: 1_000,
      maxLifetimeSeconds: settings.connectionLifetimeSeconds,
    }),
    onCreateConnection: async () => {
      connectionsCreated++
    },
  }),
})

try {
  await db.schema
    .createTable('example_kysely_029_items')
    .ifNotExists()
    .addColumn('id', 'serial', (column) => column.primaryKey())
    .addColumn('name', 'text', (column) => column.notNull())
    .addColumn('created_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
    .execute()

  const summary = await runPasses('kysely-0.29', settings, async () => {
    const { id } = await db
      .insertInto('example_kysely_029_items')
      .values({ name: `item ${new Date().toISOString()}` })
      .returning('id')
      .executeTakeFirstOrThrow()
    const item = await db
      .selectFrom('example_kysely_029_items')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirstOrThrow()
    if (item.id !== id) throw new Error(`read back item ${item.id}, expected ${id}`)
    const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(db)
    return { backendPid: rows[0]!.pid }
  })
  report({ ...summary, connectionsCreated })
} finally {
  await db.destroy()
}
