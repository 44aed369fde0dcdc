// MikroORM 7 on Azure Database for PostgreSQL with Entra ID: `npx tsx examples-current/mikro-orm-7/main.ts`
// (Node >= 22.17), configured from the environment (PGHOST, PGPORT, PGDATABASE, PGUSER, PGSSLROOTCERT and AZURE_*).
// MikroORM 7 runs on pg directly (no Knex): it hands `password` to pg, which calls it for every new connection;
// mikroOrmOptions() gives it the token function and, in `driverOptions` (merged into pg's options), verified TLS and
// the pool's connection lifetime. The same call serves MikroORM 6 (examples/mikro-orm).
import { EntitySchema, MikroORM } from '@mikro-orm/postgresql'
import { entraAuth } from 'pg-entra'
import { mikroOrmOptions } from 'pg-entra/mikro-orm'
import { exampleSettings, report, runPasses } from '../../examples/_shared/example.js'

interface Item {
  id: number
  name: string
  createdAt: Date
}

const ItemSchema = new EntitySchema<Item>({
  name: 'Item',
  tableName: 'example_mikro_orm_7_items',
  properties: {
    id: { type: 'number', primary: true, autoincrement: true },
    name: { type: 'string' },
    createdAt: { type: 'Date' },
  },
})

const settings = exampleSettings()
const auth = entraAuth({}) // the identity from the environment (AZURE_*)

// Host, port, database, user and PGSSLROOTCERT (the emulator's CA here) from the PG* variables.
const orm = await MikroORM.init({
  ...(await mikroOrmOptions({
    entra: auth,
    maxConnectionLifetimeMillis: settings.connectionLifetimeSeconds * 1000,
  })),
  entities: [ItemSchema],
  pool: { min: 0, max: 4, idleTimeoutMillis: 1_000 },
})

try {
  // Tables come from migrations in a real app; `orm.schema.updateSchema()` would also drop tables it does not know.
  await orm.em.getConnection().execute(`create table if not exists example_mikro_orm_7_items (
    id serial primary key,
    name varchar(255) not null,
    created_at timestamptz not null
  )`)

  const summary = await runPasses('mikro-orm-7', settings, async () => {
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
  await auth.close()
}
