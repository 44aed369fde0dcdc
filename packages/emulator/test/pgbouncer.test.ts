// The PgBouncer port, like Azure's 6432: the front checks the Entra token exactly as on the main port, then the
// session runs through a real PgBouncer (Debian's, 1.18) in transaction mode, so an app meets transaction pooling.
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Emulator, startEmulator } from '../src/index.js'

let em: Emulator

beforeAll(async () => {
  em = await startEmulator({
    pgbouncer: { poolSize: 1 },
    clockSkewSeconds: 1,
    principals: [
      { kind: 'servicePrincipal', name: 'bouncer-app' },
      { kind: 'user', upn: 'dana@contoso.example', role: false },
    ],
  })
})
afterAll(() => em?.stop())

function bouncerConfig(user: string, password: pg.ClientConfig['password']): pg.PoolConfig {
  const { host, port, database } = em.pgbouncer!
  return { host, port, database, user, password, ssl: { ca: em.ca } }
}

describe('the PgBouncer port', () => {
  it('is a second port, and the token is checked there with the same texts', async () => {
    expect(em.pgbouncer?.port).not.toBe(em.pg.port)
    const client = new pg.Client(bouncerConfig('bouncer-app', await em.token('dana@contoso.example')))
    client.on('error', () => {})
    await expect(client.connect()).rejects.toMatchObject({
      code: '28000',
      message: 'Service Principals cannot generate AAD_AUTH_TOKENTYPE_APP_USER tokens for role[bouncer-app]',
    })
  })

  it("startup options are refused as by Azure's PgBouncer (ignore_startup_parameters empty), not dropped", async () => {
    const options = '-c statement_timeout=5s'
    const direct = new pg.Client({
      ...bouncerConfig('bouncer-app', await em.token('bouncer-app')),
      port: em.pg.port,
      options,
    })
    await direct.connect()
    expect((await direct.query('show statement_timeout')).rows[0].statement_timeout).toBe('5s')
    await direct.end()
    const bounced = new pg.Client({ ...bouncerConfig('bouncer-app', await em.token('bouncer-app')), options })
    bounced.on('error', () => {})
    await expect(bounced.connect()).rejects.toMatchObject({ message: 'unsupported startup parameter: options' })
  })

  it("a database that does not exist: PostgreSQL's FATAL 3D000, every time", async () => {
    for (let attempt = 0; attempt < 2; attempt++) {
      const client = new pg.Client({ ...bouncerConfig('bouncer-app', await em.token('bouncer-app')), database: 'nodb' })
      client.on('error', () => {})
      await expect(client.connect()).rejects.toMatchObject({ code: '3D000', message: 'database "nodb" does not exist' })
    }
  })

  it('ignoreStartupParameters takes parameter names only (nothing that could write into pgbouncer.ini)', async () => {
    await expect(
      startEmulator({ pgbouncer: { ignoreStartupParameters: ['options\nauth_type = any'] }, principals: [] }),
    ).rejects.toMatchObject({ code: 'BAD_ARGUMENTS', message: expect.stringMatching(/is not a parameter name/) })
  })

  it('a pg Pool works through it in transaction mode: sessions share a server, session state leaks', async () => {
    const pool = new pg.Pool({ ...bouncerConfig('bouncer-app', () => em.token('bouncer-app')), max: 2 })
    try {
      const a = await pool.connect()
      const b = await pool.connect()
      try {
        expect((await a.query('select current_user')).rows[0].current_user).toBe('bouncer-app')
        const pidA = (await a.query('select pg_backend_pid() as pid')).rows[0].pid
        const pidB = (await b.query('select pg_backend_pid() as pid')).rows[0].pid
        expect(pidB).toBe(pidA) // two client connections, one server connection: transaction pooling
        // session-level SET does not stay with the client connection that made it
        await a.query('set search_path to bouncer_leak')
        expect((await b.query('show search_path')).rows[0].search_path).toBe('bouncer_leak')
        // a transaction keeps its server connection to itself until it ends
        await a.query('begin')
        await a.query('set local search_path to inside_tx')
        expect((await a.query('show search_path')).rows[0].search_path).toBe('inside_tx')
        await a.query('commit')
      } finally {
        a.release()
        b.release()
      }
      // PgBouncer 1.18 does not track protocol-level prepared statements: one client's named statement is there
      // on the shared server connection for the next client, who cannot prepare its own under that name.
      const c = await pool.connect()
      const d = await pool.connect()
      try {
        await c.query({ name: 'bouncer-stmt', text: 'select 1 as one' })
        const error = await d.query({ name: 'bouncer-stmt', text: 'select 2 as two' }).catch((e: Error) => e)
        expect(error).toMatchObject({ code: '42P05' }) // prepared statement "bouncer-stmt" already exists
      } finally {
        c.release()
        d.release()
      }
    } finally {
      await pool.end()
    }
  })

  it('tokens roll over: a connection opened after the first token expired carries a new one', async () => {
    const name = 'bouncer-app'
    await em.knobs.set({ principals: { [name]: { tokenLifetimeSeconds: 3 } } })
    const pool = new pg.Pool({ ...bouncerConfig(name, () => em.token(name)), max: 1, idleTimeoutMillis: 50 })
    try {
      const first = tokenIds(await em.counters(), name)
      expect((await pool.query('select 1 as one')).rows[0].one).toBe(1)
      const afterFirst = tokenIds(await em.counters(), name)
      expect(afterFirst.length).toBe(first.length + 1)
      const firstExpiry = (await em.counters()).tokenRequests.byPrincipal[name]!.issued.at(-1)!.expiresAt
      while (Date.now() / 1000 < firstExpiry + 2) await new Promise((resolve) => setTimeout(resolve, 250))
      expect((await pool.query('select current_user')).rows[0].current_user).toBe(name)
      const afterSecond = tokenIds(await em.counters(), name)
      expect(afterSecond.length).toBe(afterFirst.length + 1)
      expect(afterSecond.at(-1)).not.toBe(afterFirst.at(-1))
    } finally {
      await pool.end()
      await em.knobs.reset({ principal: name })
    }
  })
})

function tokenIds(counters: Awaited<ReturnType<Emulator['counters']>>, role: string): string[] {
  return counters.pg.byRole[role]?.tokenIds ?? []
}
