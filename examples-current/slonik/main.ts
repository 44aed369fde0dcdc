// Slonik 49 on Azure Database for PostgreSQL with Entra ID: `npx tsx examples-current/slonik/main.ts` (Node >= 24),
// configured from the environment (PGHOST, PGPORT, PGDATABASE, PGUSER, PGSSLROOTCERT and AZURE_* for the credential).
// Slonik resolves its `password` function itself before every new connection; `slonikPassword(auth)` hands pg
// auth.password instead of a string, so that pg calls it on the socket the token goes to (verified TLS, every time).
import { readFileSync } from 'node:fs'
import { entraAuth } from 'pg-entra'
import { slonikPassword } from 'pg-entra/slonik'
import { createPool, sql } from 'slonik'
import { z } from 'zod'
import { exampleSettings, report, runPasses } from '../../examples/_shared/example.js'

const settings = exampleSettings()
const env = process.env
const auth = entraAuth({}) // the identity from the environment (AZURE_*)

// Slonik reads host, port, database and user from its URI; the password and TLS go in as options.
const uri = `postgresql://${encodeURIComponent(env.PGUSER ?? '')}@${env.PGHOST}:${env.PGPORT ?? 5432}/${env.PGDATABASE}`
const pool = await createPool(uri, {
  password: slonikPassword(auth),
  // Verified TLS (pg checks the certificate against the host); the emulator's CA here, while Azure's certificates
  // chain to Node's default roots.
  ssl: env.PGSSLROOTCERT ? { ca: readFileSync(env.PGSSLROOTCERT) } : {},
  maximumPoolSize: 4,
  idleTimeout: 1_000,
  maximumConnectionAge: settings.connectionLifetimeSeconds * 1000,
})

try {
  await pool.query(sql.unsafe`create table if not exists example_slonik_items (
    id serial primary key,
    name text not null,
    created_at timestamptz not null default now()
  )`)

  const summary = await runPasses('slonik', settings, async () => {
    const id = await pool.oneFirst(
      sql.type(
        z.object({ id: z.number() }),
      )`insert into example_slonik_items (name) values (${`item ${new Date().toISOString()}`}) returning id`,
    )
    const found = await pool.oneFirst(
      sql.type(z.object({ id: z.number() }))`select id from example_slonik_items where id = ${id}`,
    )
    if (found !== id) throw new Error(`read back item ${found}, expected ${id}`)
    const pid = await pool.oneFirst(sql.type(z.object({ pid: z.number() }))`select pg_backend_pid() as pid`)
    return { backendPid: pid }
  })
  report(summary)
} finally {
  await pool.end()
  await auth.close()
}
