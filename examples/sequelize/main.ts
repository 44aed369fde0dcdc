// Sequelize 6 with Entra ID: run against Azure, or pg-entra-emulator with the environment it prints:
//   npx tsx examples/sequelize/main.ts
// Everything comes from the environment: PGHOST, PGPORT, PGDATABASE, PGUSER, PGSSLMODE, PGSSLROOTCERT, AZURE_*.
import { sequelizeOptions } from 'pg-entra/sequelize'
import { DataTypes, QueryTypes, Sequelize } from 'sequelize'
import { exampleSettings, report, runPasses } from '../_shared/example.js'

const settings = exampleSettings()

// A beforeConnect hook puts a fresh token in every new connection (retries and read replicas too); Sequelize has no
// maximum connection lifetime of its own, pool.maxLifetimeSeconds adds one.
const sequelize = new Sequelize(
  await sequelizeOptions({
    entra: {},
    logging: false,
    pool: { max: 2, min: 0, idle: 10_000, maxLifetimeSeconds: settings.connectionLifetimeSeconds },
  }),
)

const Item = sequelize.define(
  'Item',
  { name: { type: DataTypes.STRING, allowNull: false } },
  {
    tableName: 'example_sequelize_items',
  },
)
await Item.sync()

const summary = await runPasses('sequelize', settings, async () => {
  const item = await Item.create({ name: `item at ${new Date().toISOString()}` })
  const read = await Item.findByPk(item.get('id') as number)
  if (!read) throw new Error(`row ${item.get('id')} was written but cannot be read back`)
  const [backend] = await sequelize.query<{ pid: number }>('select pg_backend_pid() as pid', {
    type: QueryTypes.SELECT,
  })
  return { backendPid: backend!.pid }
})

await sequelize.close()
report(summary)
