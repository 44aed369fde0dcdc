// The errors a new user meets in the first hour, as they print: what is wrong, what to do, no dump of empty fields.
import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import { uniqueName, useEmulator } from '../../../../tools/test/emulator.js'
import { createPool } from '../../src/adapters/pg.js'
import { createPostgres } from '../../src/adapters/postgres.js'
import { isPgEntraError, type PgEntraError } from '../../src/errors/pg-entra-error.js'

async function failure(promise: Promise<unknown>): Promise<PgEntraError> {
  try {
    await promise
  } catch (error) {
    if (isPgEntraError(error)) return error
    throw error
  }
  throw new Error('expected a failure')
}

/** What `console.error(error)` prints: short, and no `undefined` field of the driver's error. */
function expectReadable(error: PgEntraError) {
  const printed = inspect(error)
  expect(printed.split('\n').length, printed).toBeLessThan(20)
  expect(printed).not.toMatch(/: undefined/)
}

describe('errors as a new user sees them', async () => {
  const emu = await useEmulator()
  const sp = await emu.addPrincipal({ kind: 'servicePrincipal', name: uniqueName('first-hour') })
  const entra = {
    tenantId: sp.tenantId,
    clientId: sp.appId!,
    clientSecret: sp.secret!,
    authorityHost: emu.authorityHost,
    authorityCa: emu.ca,
  }
  const closedPort = async () => {
    const { createServer } = await import('node:net')
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as { port: number }
    await new Promise((resolve) => server.close(resolve))
    return port
  }

  it('a wrong port: CONNECTION_FAILED saying nothing listens there (pg and postgres.js)', async () => {
    const port = await closedPort()
    const pool = createPool({ host: '127.0.0.1', port, user: sp.roleName, ssl: { ca: emu.ca }, entra, max: 1 })
    try {
      const error = await failure(pool.query('select 1'))
      expect(error).toMatchObject({ code: 'CONNECTION_FAILED', details: { code: 'ECONNREFUSED', port } })
      expect(error.hint).toMatch(/nothing listens there/)
      expectReadable(error)
    } finally {
      await pool.end()
    }
    const sql = await createPostgres({ host: '127.0.0.1', port, user: sp.roleName, ssl: { ca: emu.ca }, entra, max: 1 })
    try {
      const error = await failure(sql`select 1`)
      expect(error).toMatchObject({ code: 'CONNECTION_FAILED', details: { code: 'ECONNREFUSED' } })
    } finally {
      await sql.end()
    }
  })

  it('a role that does not exist: TOKEN_REFUSED with the statement, and what to do if it belongs to another principal', async () => {
    const pool = createPool({ ...emulatorPg(), user: uniqueName('no-such-role'), entra, max: 1 })
    try {
      const error = await failure(pool.query('select 1'))
      expect(error.code).toBe('TOKEN_REFUSED')
      expect(error.hint).toMatch(/If it does not exist: .*pgaadauth_create_principal_with_oid/)
      expect(error.hint).toMatch(/If it exists for another principal, connect as this principal's own role/)
      expect(error.hint).toContain(sp.objectId)
      expectReadable(error)
    } finally {
      await pool.end()
    }
  })

  function emulatorPg() {
    return { host: emu.pg.host, port: emu.pg.port, database: emu.pg.database, ssl: { ca: emu.ca } }
  }
})
