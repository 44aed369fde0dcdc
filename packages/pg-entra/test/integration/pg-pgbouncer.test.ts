// pg-entra/pg through the emulator's PgBouncer port (Azure's 6432): a pool whose connections carry each new token as
// tokens roll over, in transaction mode (sessions share server connections). Its own emulator: the suite's shared one
// runs without PgBouncer.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { type Emulator, startEmulator } from '../../../emulator/src/index.js'
import { createPool } from '../../src/adapters/pg.js'
import { entraAuth } from '../../src/auth/entra-auth.js'

const TOKEN_LIFETIME_SECONDS = 8
let emu: Emulator

beforeAll(async () => {
  emu = await startEmulator({
    pgbouncer: { poolSize: 1 },
    clockSkewSeconds: 2,
    principals: [{ kind: 'servicePrincipal', name: 'bounced-api' }],
  })
  await emu.knobs.set({ principals: { 'bounced-api': { tokenLifetimeSeconds: TOKEN_LIFETIME_SECONDS } } })
})
afterAll(() => emu?.stop())

it('a pg-entra pool on the PgBouncer port: new connections carry new tokens; the server connection is shared', async () => {
  const sp = emu.principal('bounced-api')
  const auth = entraAuth({
    tenantId: emu.tenantId,
    clientId: sp.appId,
    clientSecret: sp.secret,
    authorityHost: emu.authorityHost,
    authorityCa: emu.ca,
  })
  const { host, port, database } = emu.pgbouncer!
  // short-lived client connections, so that connections keep being opened while tokens roll over
  const pool = createPool({
    host,
    port,
    database,
    ssl: { ca: emu.ca },
    user: sp.roleName!,
    entra: auth,
    max: 2,
    maxLifetimeSeconds: 2,
  })
  try {
    const deadline = Date.now() + (TOKEN_LIFETIME_SECONDS * 2 + 4) * 1000
    const pids = new Set<number>()
    while (Date.now() < deadline) {
      const [a, b] = await Promise.all([pool.connect(), pool.connect()])
      try {
        for (const client of [a, b]) {
          const { rows } = await client.query<{ pid: number; user: string }>(
            'select pg_backend_pid() as pid, current_user as user',
          )
          expect(rows[0]!.user).toBe(sp.roleName)
          pids.add(rows[0]!.pid)
        }
      } finally {
        a.release()
        b.release()
      }
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
    const counters = await emu.counters()
    const role = counters.pg.byRole[sp.roleName!]!
    expect(role.rejected).toBe(0)
    expect(new Set(role.tokenIds).size).toBeGreaterThanOrEqual(2) // the tokens rolled over, and were used
    expect(pids.size).toBe(1) // pool size 1 in PgBouncer: every client connection ran on one server connection
  } finally {
    await pool.end()
    await auth.close()
  }
}, 90_000)
