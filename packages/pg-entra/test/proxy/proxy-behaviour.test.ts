// What the proxy guarantees besides the relay: cancel requests reach the server, one token request for many clients,
// loopback only, the local password, no token to a server without verified TLS, a 0600 Unix socket, a connection
// cap, graceful stop.
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { connect, createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { entraAuth } from '../../src/auth/entra-auth.js'
import { isPgEntraError } from '../../src/errors/pg-entra-error.js'
import { type EntraProxy, type ProxyConnectionEvent, startProxy } from '../../src/proxy/index.js'
import { startupMessage } from '../../src/proxy/wire.js'
import { type Emu, entraOptions, principalFor, proxyFor, runTool, tokenRequests } from './_proxy.js'

const cleanups: (() => Promise<unknown> | unknown)[] = []
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

async function started(proxy: Promise<EntraProxy>): Promise<EntraProxy> {
  const running = await proxy
  cleanups.push(() => running.close({ graceMs: 1000 }))
  return running
}

function client(proxy: EntraProxy, emu: Emu, user: string, extra: Partial<pg.ClientConfig> = {}): pg.Client {
  return new pg.Client({ host: proxy.host, port: proxy.port, database: emu.pg.database, user, ...extra })
}

/** postgres.js through the proxy on one connection: its cancel() sends a CancelRequest on a connection of its own. */
function oneConnection(proxy: EntraProxy, emu: Emu, user: string): postgres.Sql {
  const sql = postgres({
    host: proxy.host,
    port: proxy.port,
    database: emu.pg.database,
    username: user,
    ssl: false,
    max: 1,
  })
  cleanups.push(() => sql.end({ timeout: 5 }))
  return sql
}

/** How many sessions run `select pg_sleep(120)` now, as another session sees it. */
async function sleepers(watcher: pg.Client): Promise<number> {
  const { rows } = await watcher.query(
    "select count(*)::int as n from pg_stat_activity where query = 'select pg_sleep(120)' and state = 'active'",
  )
  return rows[0].n
}

/** Sends a StartupMessage naming only the database and returns the first message the proxy answers with. */
function startupWithoutUser(proxy: EntraProxy, database: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect(proxy.port, proxy.host, () =>
      socket.write(startupMessage(196608, new Map([['database', database]]))),
    )
    let received = Buffer.alloc(0)
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk])
      if (received.length >= 5 && received.length >= 1 + received.readUInt32BE(1)) {
        socket.destroy()
        resolve(received.subarray(0, 1 + received.readUInt32BE(1)))
      }
    })
    socket.on('error', reject)
  })
}

async function failureOf(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise
  } catch (error) {
    return error as Error & { code?: string }
  }
  throw new Error('expected a failure')
}

describe('the proxy', () => {
  let emu: Emu
  beforeAll(async () => {
    ;({ emu } = await principalFor('proxy-warmup'))
  })

  it('a long query cancelled by the client is cancelled on the server', async () => {
    const { sp } = await principalFor('proxy-cancel')
    const proxy = await started(proxyFor(emu, sp))
    const cancelsBefore = (await emu.counters()).pg.cancels
    const sql = oneConnection(proxy, emu, sp.roleName!)
    await sql`select 1`
    const sleeping = sql`select pg_sleep(120)`.execute()
    // Wait until the server runs it, as seen from another session through the same proxy.
    const watcher = client(proxy, emu, sp.roleName!)
    await watcher.connect()
    cleanups.push(() => watcher.end())
    while ((await sleepers(watcher)) === 0) await new Promise((resolve) => setTimeout(resolve, 100))
    sleeping.cancel()
    const error = await failureOf(sleeping)
    expect((error as { code?: string }).code).toBe('57014') // query_canceled, from the server
    expect((await emu.counters()).pg.cancels).toBeGreaterThan(cancelsBefore)
    expect(await sleepers(watcher)).toBe(0)
  })

  it('a cancel request whose client hangs up at once still reaches the server', async () => {
    const { sp } = await principalFor('proxy-cancel-hangup')
    const proxy = await started(proxyFor(emu, sp))
    const session = connect(proxy.port, proxy.host)
    cleanups.push(() => session.destroy())
    let received = Buffer.alloc(0)
    const messages: Buffer[] = []
    let notify = () => {}
    session.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk])
      while (received.length >= 5 && received.length >= 1 + received.readUInt32BE(1)) {
        const length = 1 + received.readUInt32BE(1)
        messages.push(received.subarray(0, length))
        received = received.subarray(length)
      }
      notify()
    })
    const next = async (type: string): Promise<Buffer> => {
      for (;;) {
        const index = messages.findIndex((m) => m[0] === type.charCodeAt(0))
        if (index >= 0) return messages.splice(index, 1)[0]!
        await new Promise<void>((resolve) => {
          notify = resolve
        })
      }
    }
    session.write(
      startupMessage(
        196608,
        new Map([
          ['user', sp.roleName!],
          ['database', emu.pg.database],
        ]),
      ),
    )
    const key = await next('K') // BackendKeyData: pid, secret
    await next('Z')
    const query = Buffer.from('select pg_sleep(120)\0')
    const head = Buffer.alloc(5)
    head[0] = 0x51 // Query
    head.writeUInt32BE(4 + query.length, 1)
    session.write(Buffer.concat([head, query]))
    const watcher = client(proxy, emu, sp.roleName!)
    await watcher.connect()
    cleanups.push(() => watcher.end())
    while ((await sleepers(watcher)) === 0) await new Promise((resolve) => setTimeout(resolve, 100))
    const cancel = Buffer.alloc(16)
    cancel.writeUInt32BE(16, 0)
    cancel.writeUInt32BE(80877102, 4)
    key.copy(cancel, 8, 5, 13)
    const canceller = connect(proxy.port, proxy.host, () => {
      canceller.write(cancel)
      canceller.destroy() // gone before the proxy has even reached the server
    })
    canceller.on('error', () => {})
    const error = await next('E')
    expect(error.toString('utf8')).toContain('C57014') // query_canceled, from the server
  })

  it('200 concurrent connections make one token request', async () => {
    const { sp } = await principalFor('proxy-many', 600)
    const proxy = await started(proxyFor(emu, sp))
    const clients = Array.from({ length: 200 }, () => client(proxy, emu, sp.roleName!))
    try {
      await Promise.all(clients.map((c) => c.connect()))
      const users = await Promise.all(clients.map(async (c) => (await c.query('select current_user as u')).rows[0].u))
      expect(new Set(users)).toEqual(new Set([sp.roleName]))
    } finally {
      await Promise.all(clients.map((c) => c.end().catch(() => {})))
    }
    expect(await tokenRequests(emu, sp)).toBe(1)
  }, 120_000)

  it('a token the server refuses is replaced once: the client logs in on the second try; a role it cannot be is refused', async () => {
    const { sp } = await principalFor('proxy-retry', 600)
    let calls = 0
    const credential = {
      async getToken() {
        calls++
        const token =
          calls === 1
            ? await emu.mintToken({ oid: sp.objectId, tid: sp.tenantId, idtyp: 'app' }, { key: 'foreign' })
            : await emu.token(sp.name)
        return { token, expiresOnTimestamp: Date.now() + 3_000_000 }
      },
    }
    const proxy = await started(
      startProxy({ server: { host: emu.pg.host, port: emu.pg.port, ca: emu.ca }, entra: { credential } }),
    )
    const c = client(proxy, emu, sp.roleName!)
    await c.connect()
    expect((await c.query('select current_user as u')).rows[0].u).toBe(sp.roleName)
    await c.end()
    expect(calls).toBe(2)
    expect((await emu.counters()).pg.byRole[sp.roleName!]).toMatchObject({ accepted: 1, rejected: 1 })

    const nobody = client(proxy, emu, `${sp.roleName}-nobody`)
    const error = await failureOf(nobody.connect())
    expect(error.code).toBe('28P01')
    expect(error.message).toBe(`password authentication failed for user "${sp.roleName}-nobody"`)
  })

  it('refuses to listen on anything but loopback unless told by name', async () => {
    const { sp } = await principalFor('proxy-bind')
    for (const host of ['0.0.0.0', '::', '192.0.2.10', 'db.example.com']) {
      const error = await failureOf(proxyFor(emu, sp, { host }))
      expect(isPgEntraError(error) && error.code).toBe('INVALID_OPTION')
      expect(error.message).toBe(`refusing to listen on ${host}: not a loopback address`)
    }
    const local = await started(proxyFor(emu, sp, { host: '127.0.0.1' }))
    expect(local.host).toBe('127.0.0.1')
    const other = await started(proxyFor(emu, sp, { host: 'localhost' }))
    expect(['127.0.0.1', '::1']).toContain(other.host)
  })

  it('with a local password: a wrong one is refused with 28P01 before any upstream connection, the right one works', async () => {
    const { sp } = await principalFor('proxy-local-pw')
    const events: ProxyConnectionEvent[] = []
    const proxy = await started(
      proxyFor(emu, sp, { localPassword: 'local-secret', onConnection: (event) => events.push(event) }),
    )
    for (const password of ['wrong', undefined, '']) {
      const c = client(proxy, emu, sp.roleName!, password === undefined ? {} : { password })
      const error = await failureOf(c.connect())
      if (password === 'wrong') {
        expect(error.code).toBe('28P01')
        expect(error.message).toBe(`password authentication failed for user "${sp.roleName}"`)
      }
      await c.end().catch(() => {})
    }
    expect(await tokenRequests(emu, sp)).toBe(0)
    expect((await emu.counters()).pg.byRole[sp.roleName!]).toBeUndefined()
    const good = client(proxy, emu, sp.roleName!, { password: 'local-secret' })
    await good.connect()
    expect((await good.query('select current_user as u')).rows[0].u).toBe(sp.roleName)
    await good.end()
    expect(events.map((e) => e.outcome)).toContain('connected')
    expect(events.find((e) => e.outcome === 'refused')?.code).toBe('28P01')
    expect(JSON.stringify(events)).not.toContain('local-secret')
  })

  it('refuses a server whose certificate does not verify: FATAL naming the reason, no token sent', async () => {
    const { sp } = await principalFor('proxy-untrusted')
    const events: ProxyConnectionEvent[] = []
    // No CA given: the emulator's certificate does not chain to Node's roots.
    const proxy = await started(
      startProxy({
        server: { host: emu.pg.host, port: emu.pg.port },
        entra: entraOptions(emu, sp),
        onConnection: (event) => events.push(event),
      }),
    )
    const error = await failureOf(client(proxy, emu, sp.roleName!).connect())
    expect(error.code).toBe('08001')
    expect(error.message).toMatch(/TLS to .* failed: the server's certificate does not chain to a trusted CA/)
    expect(error.message).toContain('the Entra token was not sent')
    expect(events[0]).toMatchObject({ outcome: 'refused', code: '08001', user: sp.roleName })
    expect(await tokenRequests(emu, sp)).toBe(0)
  })

  it('refuses a server that answers the SSLRequest with N, and a host its certificate does not name', async () => {
    const { sp } = await principalFor('proxy-no-tls')
    let sawToken = false
    const plain: Server = createServer((socket) => {
      socket.once('data', () => socket.write('N'))
      socket.on('data', (chunk) => {
        if (chunk.length > 8) sawToken = true
      })
      socket.on('error', () => {})
    })
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve))
    cleanups.push(() => new Promise((resolve) => plain.close(resolve)))
    const port = (plain.address() as { port: number }).port
    const noTls = await started(
      startProxy({ server: { host: '127.0.0.1', port, ca: emu.ca }, entra: entraOptions(emu, sp) }),
    )
    const error = await failureOf(client(noTls, emu, sp.roleName!).connect())
    expect(error.code).toBe('08001')
    expect(error.message).toMatch(/TLS to 127\.0\.0\.1:\d+ failed: the server does not offer TLS/)
    expect(sawToken).toBe(false)

    // The emulator's certificate names localhost and 127.0.0.1, not 127.0.0.2 (an IP host is checked as an IP).
    const unnamed = await started(
      startProxy({ server: { host: 'localhost', port: emu.pg.port, ca: emu.ca }, entra: entraOptions(emu, sp) }),
    )
    const c = client(unnamed, emu, sp.roleName!)
    await c.connect()
    await c.end()
    expect(await tokenRequests(emu, sp)).toBe(1)
  })

  it('listens on a Unix socket of mode 0600 that psql connects through', async () => {
    const { sp } = await principalFor('proxy-unix')
    const dir = mkdtempSync(join(tmpdir(), 'pg-entra-proxy-'))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const path = join(dir, '.s.PGSQL.5432')
    await started(proxyFor(emu, sp, { unixSocket: path }))
    expect(statSync(path).isSocket()).toBe(true)
    expect(statSync(path).mode & 0o777).toBe(0o600)
    const run = await runTool('psql', ['-h', dir, '-p', '5432', '-d', emu.pg.database, '-tAc', 'select current_user'], {
      PGUSER: sp.roleName!,
    })
    expect(run.stderr).toBe('')
    expect(run.stdout.trim()).toBe(sp.roleName)
  })

  it('a client that sends no user: the default user, or the user derived from the token; an EntraAuth given is shared', async () => {
    const { sp } = await principalFor('proxy-default-user')
    const auth = entraAuth(entraOptions(emu, sp))
    cleanups.push(() => auth.close())
    const server = { host: emu.pg.host, port: emu.pg.port, ca: emu.ca }
    const withDefault = await started(startProxy({ server, entra: auth, user: sp.roleName! }))
    // libpq and pg always name a user: a StartupMessage without one, by hand.
    const first = await startupWithoutUser(withDefault, emu.pg.database)
    expect(first[0]).toBe(0x52) // Authentication...
    expect(first.readUInt32BE(5)).toBe(0) // ...Ok: logged in upstream as the default user
    expect((await emu.counters()).pg.byRole[sp.roleName!]?.accepted).toBe(1)

    // A service principal's token names no database user: the client is told what to set.
    const derived = await started(startProxy({ server, entra: auth }))
    const refusal = await startupWithoutUser(derived, emu.pg.database)
    expect(refusal[0]).toBe(0x45) // ErrorResponse
    expect(refusal.toString('utf8')).toContain('USER_NOT_DERIVABLE')
    await withDefault.close({ graceMs: 100 })
    expect((await auth.token()).token).toBeTruthy() // not closed: it was the caller's
  })

  it('a connection cap: one client more gets 53300 after its startup packet and opens no server connection; a cancel request still passes', async () => {
    const { sp } = await principalFor('proxy-cap')
    // Between the proxy and the front: counts the TCP connections the proxy opens (its TLS passes through untouched).
    let serverConnections = 0
    const counter = createServer((socket) => {
      serverConnections++
      const front = connect(emu.pg.port, emu.pg.host)
      socket.on('error', () => front.destroy())
      front.on('error', () => socket.destroy())
      socket.pipe(front).pipe(socket)
    })
    await new Promise<void>((resolve) => counter.listen(0, '127.0.0.1', resolve))
    cleanups.push(() => new Promise((resolve) => counter.close(resolve)))
    const events: ProxyConnectionEvent[] = []
    const proxy = await started(
      startProxy({
        server: { host: '127.0.0.1', port: (counter.address() as { port: number }).port, ca: emu.ca },
        entra: entraOptions(emu, sp),
        maxConnections: 2,
        onConnection: (event) => events.push(event),
      }),
    )
    const sql = oneConnection(proxy, emu, sp.roleName!)
    await sql`select 1`
    const watcher = client(proxy, emu, sp.roleName!)
    await watcher.connect()
    expect(serverConnections).toBe(2)

    const third = client(proxy, emu, sp.roleName!)
    const refused = await failureOf(third.connect())
    expect(refused.code).toBe('53300')
    expect(refused.message).toBe('sorry, too many clients already')
    expect(serverConnections).toBe(2)
    expect(events.find((event) => event.outcome === 'refused')).toMatchObject({ code: '53300', user: sp.roleName })

    // At the cap, a cancel request (a connection of its own) still reaches the server.
    const sleeping = sql`select pg_sleep(120)`.execute()
    while ((await sleepers(watcher)) === 0) await new Promise((resolve) => setTimeout(resolve, 100))
    sleeping.cancel()
    expect((await failureOf(sleeping)).code).toBe('57014')

    // Once a client leaves, the next one gets in.
    await watcher.end()
    for (let waited = 0; proxy.connections >= 2 && waited < 100; waited++) {
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const next = client(proxy, emu, sp.roleName!)
    await next.connect()
    expect((await next.query('select current_user as u')).rows[0].u).toBe(sp.roleName)
    await next.end()
  })

  it('a client that trickles its start-up is closed at the deadline, however often it sends; a repeated SSLRequest is refused', async () => {
    const { sp } = await principalFor('proxy-slow-startup')
    const proxy = await started(proxyFor(emu, sp, { connectTimeoutMs: 1000 })) // start-up deadline: 2 s
    const packet = startupMessage(
      196608,
      new Map([
        ['user', sp.roleName!],
        ['database', emu.pg.database],
      ]),
    )
    const socket = connect(proxy.port, proxy.host)
    socket.on('error', () => {})
    let sent = 0
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
    const trickle = setInterval(() => {
      if (sent < packet.length && !socket.destroyed) socket.write(packet.subarray(sent, ++sent))
    }, 200) // a byte every 200 ms: an idle timeout of 2 s would never fire
    await closed
    clearInterval(trickle)
    expect(sent).toBeLessThan(packet.length)

    const answers = await new Promise<Buffer>((resolve, reject) => {
      const sslRequest = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])
      const again = connect(proxy.port, proxy.host, () => again.write(sslRequest))
      let received = Buffer.alloc(0)
      again.on('data', (chunk: Buffer) => {
        if (received.length === 0) again.write(sslRequest) // the second, once the first is answered
        received = Buffer.concat([received, chunk])
      })
      again.on('close', () => resolve(received))
      again.on('error', reject)
    })
    expect(answers.subarray(0, 2).toString('latin1')).toBe('NE') // 'N' to the first, then FATAL
    expect(answers.toString('latin1')).toContain('C0A000')
  })

  it('refuses a connection cap that is not a whole number of at least 1', async () => {
    const { sp } = await principalFor('proxy-cap-option')
    for (const maxConnections of [0, -1, 1.5, Number.NaN]) {
      const error = await failureOf(proxyFor(emu, sp, { maxConnections }))
      expect(isPgEntraError(error) && error.code).toBe('INVALID_OPTION')
    }
  })

  it('graceful stop: no new connections, an open session finishes within the grace period, then is closed', async () => {
    const { sp } = await principalFor('proxy-stop')
    const proxy = await proxyFor(emu, sp)
    const open = client(proxy, emu, sp.roleName!)
    open.on('error', () => {})
    await open.connect()
    const closing = proxy.close({ graceMs: 3000 })
    const refused = await failureOf(client(proxy, emu, sp.roleName!).connect())
    expect((refused as { code?: string }).code).toBe('ECONNREFUSED')
    expect((await open.query('select 1 as one')).rows[0].one).toBe(1)
    await closing
    expect(proxy.connections).toBe(0)
    await expect(open.query('select 1')).rejects.toThrow()
  })
})
