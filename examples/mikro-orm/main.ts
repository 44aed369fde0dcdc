// MikroORM 6 on Azure Database for PostgreSQL with Entra ID: `npx tsx examples/mikro-orm/main.ts`, configured from the
// environment (PGHOST, PGPORT, PGDATABASE, PGSSLMODE, PGSSLROOTCERT and AZURE_* for the credential).
import { EntitySchema, MikroORM } from '@mikro-orm/postgresql'
import { mikroOrmOptions } from 'pg-entra/mikro-orm'
import { exampleSettings, report, runPasses } from '../_shared/example.js'

interface Item {
  id: number
  name: string
  createdAt: Date
}

const ItemSchema = new EntitySchema<Item>({
  name: 'Item',
  tableName: 'example_mikro_orm_items',
  properties: {
    id: { type: 'number', primary: true, autoincrement: true },
    name: { type: 'string' },
    createdAt: { type: 'Date' },
  },
})

const settings = exampleSettings()

const orm = await MikroORM.init({
  ...(await mikroOrmOptions({
    entra: {}, // everything from the environment
    maxConnectionLifetimeMillis: settings.connectionLifetimeSeconds * 1000,
  })),
  entities: [ItemSchema],
  pool: { min: 0, max: 4, idleTimeoutMillis: 1_000 },
})

try {
  // Tables come from migrations in a real app; `orm.schema.updateSchema()` would also drop tables it does not know.
  await orm.em.getConnection().execute(`create table if not exists example_mikro_orm_items (
    id serial primary key,
    name varchar(255) not null,
    created_at timestamptz not null
  )`)

  const summary = await runPasses('mikro-orm', settings, async () => {
    const em = orm.em.fork()
    const item = em.create(ItemSchema, { name: `item ${new Date().toISOString()}`, createdAt: new Date() })
    await em.flush()
    const found = await orm.em.fork().findOneOrFail(ItemSchema, { id: item.id })
    if (found.id !== item.id) throw new Error(`read back item ${found.id}, expected ${item.id}`)
    const [row] = await em.getConnection().execute<{ pid: number }[]>('select pg_backend_pid() as pid')
    return { backendPid: row!.pid }
  })
  report(summary)
} finally {
  await orm.close(true)
}
