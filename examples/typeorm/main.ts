// TypeORM with Entra ID: run against Azure, or pg-entra-emulator with the environment it prints:
//   npx tsx examples/typeorm/main.ts
// Everything comes from the environment: PGHOST, PGPORT, PGDATABASE, PGUSER, PGSSLMODE, PGSSLROOTCERT, AZURE_*.
import { typeormOptions } from 'pg-entra/typeorm'
import { DataSource, EntitySchema } from 'typeorm'
import { exampleSettings, report, runPasses } from '../_shared/example.js'

interface Item {
  id: number
  name: string
}

const ItemSchema = new EntitySchema<Item>({
  name: 'Item',
  tableName: 'example_typeorm_items',
  columns: {
    id: { type: Number, primary: true, generated: true },
    name: { type: String },
  },
})

const settings = exampleSettings()

// `password` becomes the token function and a `url` (here: PG* variables) is split into fields, so that pg keeps
// calling the function for every new connection; extra.maxLifetimeSeconds makes pg replace old connections.
const dataSource = new DataSource(
  await typeormOptions({
    type: 'postgres',
    entra: {},
    entities: [ItemSchema],
    synchronize: true,
    poolSize: 2,
    extra: { maxLifetimeSeconds: settings.connectionLifetimeSeconds },
  }),
)
await dataSource.initialize()
const items = dataSource.getRepository(ItemSchema)

const summary = await runPasses('typeorm', settings, async () => {
  const item = await items.save({ name: `item at ${new Date().toISOString()}` })
  const read = await items.findOneBy({ id: item.id })
  if (!read) throw new Error(`row ${item.id} was written but cannot be read back`)
  const [backend] = (await dataSource.query('select pg_backend_pid() as pid')) as { pid: number }[]
  return { backendPid: backend!.pid }
})

await dataSource.destroy()
report(summary)
