// The promises that rest on pg's public surface, on the oldest pg 8 the peer range allows (^8.11.0) and on the latest:
// the password function sees its socket (`client.password(...)`, `client.connection.stream`), a refusal reaches it
// (`connection` 'errorMessage'), and a refused login is retried with a new Client from the pool.

import pgLatest from 'pg'
import pgOldest from 'pg-oldest'
import { beforeAll, describe, expect, it } from 'vitest'
import { uniqueName, useEmulator } from '../../../../tools/test/emulator.js'
import { pgConfigOf, withEntra } from '../../src/adapters/pg.js'
import { entraAuth } from '../../src/auth/entra-auth.js'
import { isPgEntraError } from '../../src/errors/pg-entra-error.js'
import { prepareConnection } from '../../src/kernel/connection.js'
import type { AccessToken } from '../../src/shared/access-token.js'
import { startImpostor } from '../helpers/impostor.js'

type Emu = Awaited<ReturnType<typeof useEmulator>>
const versions = [
  ['pg 8.11.0 (oldest in the peer range)', pgOldest],
  ['pg latest', pgLatest],
] as const

describe.each(versions)('%s', (_name, pg) => {
  let emu: Emu
  beforeAll(async () => {
    emu = await useEmulator()
  })

  it('a refused login is retried once with a fresh token, on a new Client from the pool', async () => {
    const sp = await emu.addPrincipal({ kind: 'servicePrincipal', name: uniqueName('pgver-retry') })
    let calls = 0
    const credential = {
      async getToken(): Promise<AccessToken> {
        calls++
        const token =
          calls === 1
            ? await emu.mintToken({ oid: sp.objectId, tid: sp.tenantId, idtyp: 'app' }, { key: 'foreign' })
            : await emu.token(sp.name)
        return { token, expiresOnTimestamp: Date.now() + 3_000_000 }
      },
    }
    const config = {
      host: emu.pg.host,
      port: emu.pg.port,
      database: emu.pg.database,
      user: sp.roleName!,
      ssl: { ca: emu.ca },
      entra: { credential },
    }
    const prepared = prepareConnection(config, config.entra)
    const pool = withEntra(new pg.Pool(pgConfigOf(config, prepared)) as never, prepared)
    try {
      expect((await pool.query('select current_user as u')).rows[0].u).toBe(sp.roleName)
      expect(calls).toBe(2)
    } finally {
      await pool.end()
    }
    expect((await emu.counters()).pg.byRole[sp.roleName!]).toMatchObject({ rejected: 1 })
  })

  it('the token function refuses a socket that is not TLS, whatever config pg was given', async () => {
    const sp = await emu.addPrincipal({ kind: 'servicePrincipal', name: uniqueName('pgver-wire') })
    const auth = entraAuth({
      tenantId: sp.tenantId,
      clientId: sp.appId!,
      clientSecret: sp.secret!,
      authorityHost: emu.authorityHost,
      authorityCa: emu.ca,
    })
    const impostor = await startImpostor('decline-tls')
    try {
      const token = (await auth.token()).token
      const client = new pg.Client({
        host: impostor.host,
        port: impostor.port,
        user: 'x',
        password: auth.password,
        ssl: false,
      })
      client.on('error', () => {})
      let error: unknown
      try {
        await client.connect()
      } catch (e) {
        error = e
      }
      expect(isPgEntraError(error) && error.code).toBe('TLS_REQUIRED')
      expect(impostor.received().includes(token)).toBe(false)
    } finally {
      await impostor.close()
      await auth.close()
    }
  })
})
