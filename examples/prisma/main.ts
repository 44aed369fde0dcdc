// Prisma 7 on Azure Database for PostgreSQL with Entra ID: `npx tsx examples/prisma/main.ts` after generating the
// client (see docs/integrations/prisma.md), configured from the environment (PGHOST, PGPORT, PGDATABASE, PGSSLMODE,
// PGSSLROOTCERT and AZURE_* for the credential).
import { createPool } from 'pg-entra/pg'
import { prismaAdapter } from 'pg-entra/prisma'
import { exampleSettings, report, runPasses } from '../_shared/example.js'
import { PrismaClient } from './generated/client.js'

const settings = exampleSettings()
let connectionsCreated = 0

const pool = createPool({
  entra: {}, // everything from the environment
  max: 4,
  idleTimeoutMillis: 1_000,
  maxLifetimeSeconds: settings.connectionLifetimeSeconds,
})
pool.on('connect', () => {
  connectionsCreated++
})
// Prisma qualifies every table with the adapter's schema (default public, which PostgreSQL 15+ closes to ordinary
// roles): use the schema this role's tables land in.
const { rows } = await pool.query<{ schema: string }>('select current_schema() as schema')
const prisma = new PrismaClient({ adapter: prismaAdapter(pool, { schema: rows[0]!.schema }) })

try {
  // The schema comes from `prisma migrate` in a real app; this example creates its one table itself.
  await prisma.$executeRawUnsafe(`create table if not exists example_prisma_items (
    id serial primary key,
    name text not null,
    created_at timestamp(3) not null default current_timestamp
  )`)

  const summary = await runPasses('prisma', settings, async () => {
    const item = await prisma.item.create({ data: { name: `item ${new Date().toISOString()}` } })
    const found = await prisma.item.findUniqueOrThrow({ where: { id: item.id } })
    if (found.id !== item.id) throw new Error(`read back item ${found.id}, expected ${item.id}`)
    const [row] = await prisma.$queryRaw<{ pid: number }[]>`select pg_backend_pid() as pid`
    return { backendPid: row!.pid }
  })
  report({ ...summary, connectionsCreated })
} finally {
  await prisma.$disconnect()
  await pool.end()
}
