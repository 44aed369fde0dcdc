// startEmulator's options: tenant, lifetimes, database, work dir; and a start that fails is reported with a code.
import { randomUUID } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, expect, it } from 'vitest'
import { type Emulator, startEmulator } from '../src/index.js'
import { decodeJwt } from './entra-fixtures.js'

const workDir = mkdtempSync(join(tmpdir(), 'pg-entra-emulator-options-'))
let em: Emulator | undefined
afterAll(async () => {
  await em?.stop()
  rmSync(workDir, { recursive: true, force: true })
})

it('honours tenant, lifetimes, database and work dir, and listens on loopback only', async () => {
  const tenantId = randomUUID()
  em = await startEmulator({
    tenantId,
    tokenLifetimeSeconds: 900,
    database: 'orders',
    workDir,
    principals: [{ kind: 'managedIdentity', name: 'orders-web', assignment: 'system' }],
  })
  expect(em.tenantId).toBe(tenantId)
  expect(em.caPath).toBe(join(workDir, 'ca.pem'))
  expect(readFileSync(em.caPath, 'utf8')).toBe(em.ca)
  for (const url of [
    em.authorityHost,
    em.jwksUri,
    em.controlUrl,
    em.managedIdentity.endpoint,
    em.managedIdentity.imdsHost,
  ]) {
    expect(new URL(url).hostname).toBe('127.0.0.1')
  }
  expect(em.pg.host).toBe('127.0.0.1')
  const claims = decodeJwt(await em.token('orders-web')).claims
  expect(claims.exp - claims.iat).toBe(900)
  expect(em.env()).toMatchObject({ PGDATABASE: 'orders', PGUSER: 'orders-web', PGSSLROOTCERT: em.caPath })

  const client = new pg.Client({
    host: em.pg.host,
    port: em.pg.port,
    database: 'orders',
    user: em.pg.adminUser,
    password: em.pg.adminPassword,
    ssl: { ca: em.ca },
  })
  await client.connect()
  expect((await client.query('select current_database()')).rows[0].current_database).toBe('orders')
  await client.end()

  await em.stop()
  em = undefined
  expect(existsSync(join(workDir, 'ca.pem'))).toBe(true) // a caller's work dir is left in place
})

it('a start that fails says why, with a code', async () => {
  await expect(startEmulator({ principals: [{ kind: 'robot', name: 'r2' } as never] })).rejects.toMatchObject({
    code: 'INVALID_PRINCIPAL',
  })
})
