// Knex with Entra ID: run against Azure, or pg-entra-emulator with the environment it prints:
//   npx tsx examples/knex/main.ts
// Everything comes from the environment: PGHOST, PGPORT, PGDATABASE, PGUSER, PGSSLMODE, PGSSLROOTCERT, AZURE_*.
import knex from 'knex'
import { knexConfig } from 'pg-entra/knex'
import { exampleSettings, report, runPasses } from '../_shared/example.js'

const settings = exampleSettings()

// The connection's password is the token function, which pg calls for every new connection: no expirationChecker
// to get wrong. pool.maxConnectionLifetimeMillis makes Knex replace old connections.
const db = knex(
  knexConfig({
    entra: {},
    pool: { min: 0, max: 2, maxConnectionLifetimeMillis: settings.connectionLifetimeSeconds * 1000 },
  }),
)

if (!(await db.schema.hasTable('example_knex_items'))) {
  await db.schema.createTable('example_knex_items', (table) => {
    table.increments('id')
    table.text('name').notNullable()
  })
}

const summary = await runPasses('knex', settings, async () => {
  const [inserted] = await db('example_knex_items')
    .insert({ name: `item at ${new Date().toISOString()}` })
    .returning<{ id: number }[]>('id')
  const read = await db('example_knex_items').where({ id: inserted!.id }).first()
  if (!read) throw new Error(`row ${inserted!.id} was written but cannot be read back`)
  const { rows } = await db.raw<{ rows: { pid: number }[] }>('select pg_backend_pid() as pid')
  return { backendPid: rows[0]!.pid }
})

await db.destroy()
report(summary)
