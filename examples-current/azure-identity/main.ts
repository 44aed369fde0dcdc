// pg-entra's own credential on the current @azure/identity (4.14, Node >= 22): `createPool({ entra: {} })` from
// pg-entra/pg, the identity from the environment (AZURE_*), the server from PG*. The same app as examples/pg.
import { createPool } from 'pg-entra/pg'
import { exampleSettings, report, runPasses } from '../../examples/_shared/example.js'

const settings = exampleSettings()

const pool = createPool({
  entra: {}, // everything from the environment
  max: 4,
  idleTimeoutMillis: 1_000,
  maxLifetimeSeconds: settings.connectionLifetimeSeconds,
})

try {
  const summary = await runPasses('azure-identity', settings, async () => {
    const { rows } = await pool.query<{ pid: number }>('select pg_backend_pid() as pid')
    return { backendPid: rows[0]!.pid }
  })
  report(summary)
} finally {
  await pool.end()
}
