// The front at the protocol level: cancel forwarding, protocol version and parameters passed through, GSSENC
// declined, direct TLS, malformed and oversize packets refused while the front keeps serving, a burst of
// connections, close() ending sessions, loopback only.
import { randomUUID } from 'node:crypto'
import net from 'node:net'
import tls from 'node:tls'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startPgFront } from '../src/pg-front/index.js'
import type { FrontEvent } from '../src/pg-front/types.js'
import { startUpstream } from '../src/upstream/index.js'
import { connectError, type FrontFixture, startFrontFixture, testVerifier } from './front-fixtures.js'

let f: FrontFixture
const app = { name: 'proto-app', oid: randomUUID() }
const appToken = () => f.mint({ oid: app.oid, sub: app.oid, appid: randomUUID(), idtyp: 'app' })

beforeAll(async () => {
  f = await startFrontFixture()
  await f.upstream.adminQuery(`select pgaadauth_create_principal_with_oid($1, $2, 'service', false, false)`, [
    app.name,
    app.oid,
  ])
})
afterAll(() => f?.stop())

/** A hand-driven client: raw bytes in, backend messages out. */
class RawClient {
  private buffer: Buffer = Buffer.alloc(0)
  private waiters: (() => void)[] = []
  ended = false
  constructor(public socket: net.Socket | tls.TLSSocket) {
    this.listen(socket)
  }
  private listen(s: net.Socket) {
    s.on('data', (c: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, c])
      this.wake()
    })
    s.on('close', () => {
      this.ended = true
      this.wake()
    })
    s.on('error', () => {})
  }
  private wake() {
    for (const w of this.waiters.splice(0)) w()
  }
  static async open(port: number): Promise<RawClient> {
    const socket = net.connect(port, '127.0.0.1')
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject))
    return new RawClient(socket)
  }
  async bytes(n: number): Promise<Buffer> {
    while (this.buffer.length < n) {
      if (this.ended) throw new Error('closed')
      await new Promise<void>((r) => this.waiters.push(r))
    }
    const out = this.buffer.subarray(0, n)
    this.buffer = this.buffer.subarray(n)
    return out
  }
  async message(): Promise<{ type: string; body: Buffer }> {
    const head = await this.bytes(5)
    const body = await this.bytes(head.readUInt32BE(1) - 4)
    return { type: String.fromCharCode(head[0]!), body }
  }
  async untilClosed(): Promise<Buffer> {
    while (!this.ended) await new Promise<void>((r) => this.waiters.push(r))
    return this.buffer
  }
  async startTls(ca: string): Promise<void> {
    this.socket.write(Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]))
    expect((await this.bytes(1)).toString()).toBe('S')
    this.socket.removeAllListeners('data')
    const secure = tls.connect({ socket: this.socket, ca, host: '127.0.0.1', servername: undefined })
    await new Promise((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject))
    this.socket = secure
    this.listen(secure)
  }
  send(b: Buffer) {
    this.socket.write(b)
  }
}

function startupPacket(version: number, params: Record<string, string>): Buffer {
  const body = Buffer.concat([...Object.entries(params).map(([k, v]) => Buffer.from(`${k}\0${v}\0`)), Buffer.from([0])])
  const head = Buffer.alloc(8)
  head.writeUInt32BE(8 + body.length, 0)
  head.writeUInt32BE(version, 4)
  return Buffer.concat([head, body])
}

function passwordMessage(password: string): Buffer {
  const body = Buffer.from(`${password}\0`)
  const head = Buffer.alloc(5)
  head[0] = 0x70
  head.writeUInt32BE(4 + body.length, 1)
  return Buffer.concat([head, body])
}

function query(sql: string): Buffer {
  const body = Buffer.from(`${sql}\0`)
  const head = Buffer.alloc(5)
  head[0] = 0x51
  head.writeUInt32BE(4 + body.length, 1)
  return Buffer.concat([head, body])
}

/** Messages up to ReadyForQuery. */
async function untilReady(c: RawClient) {
  const seen: { type: string; body: Buffer }[] = []
  for (;;) {
    const m = await c.message()
    seen.push(m)
    if (m.type === 'Z' || m.type === 'E') return seen
  }
}

async function rawSession(params: Record<string, string>, version = 196608) {
  const c = await RawClient.open(f.front.port)
  await c.startTls(f.ca)
  c.send(startupPacket(version, { user: app.name, database: 'postgres', ...params }))
  const auth = await c.message()
  expect(auth.type).toBe('R')
  expect(auth.body.readUInt32BE(0)).toBe(3)
  c.send(passwordMessage(await appToken()))
  return { c, greeting: await untilReady(c) }
}

const parameterStatus = (msgs: { type: string; body: Buffer }[]) =>
  Object.fromEntries(
    msgs.filter((m) => m.type === 'S').map((m) => m.body.toString('utf8').split('\0').slice(0, 2) as [string, string]),
  )

async function frontStillServes() {
  const client = await f.connect(app.name, await appToken())
  expect((await client.query('select 1 as one')).rows[0].one).toBe(1)
  await client.end()
}

describe('pass-through', () => {
  it('relays server parameters and honours startup parameters', async () => {
    const { c, greeting } = await rawSession({ application_name: 'front-proto-test', DateStyle: 'German' })
    const params = parameterStatus(greeting)
    expect(params.application_name).toBe('front-proto-test')
    expect(params.server_version).toMatch(/^18\./)
    expect(params.DateStyle).toMatch(/^German/)
    expect(greeting.map((m) => m.type)).toContain('K')
    expect(greeting.at(-1)?.type).toBe('Z')
    c.socket.end()
  })

  it('passes protocol 3.2 through: the upstream answers with its 3.2 BackendKeyData (32-byte key)', async () => {
    const { c, greeting } = await rawSession({}, (3 << 16) | 2)
    const keyData = greeting.find((m) => m.type === 'K')
    expect(keyData?.body.length).toBe(4 + 32)
    c.socket.end()
  })

  it('relays NegotiateProtocolVersion for a newer minor version', async () => {
    const { c, greeting } = await rawSession({ '_pq_.unknown_option': 'x' }, (3 << 16) | 9)
    const negotiate = greeting.find((m) => m.type === 'v')
    expect(negotiate?.body.readUInt32BE(0)).toBe((3 << 16) | 2)
    expect(greeting.at(-1)?.type).toBe('Z')
    c.socket.end()
  })

  it('pg sees application_name and server_version through the front', async () => {
    const client = await f.connect(app.name, await appToken(), { application_name: 'pg-through-front' })
    const { rows } = await client.query(
      "select current_setting('application_name') as app, current_setting('server_version') as v",
    )
    expect(rows[0].app).toBe('pg-through-front')
    expect(rows[0].v).toMatch(/^18\./)
    await client.end()
  })
})

describe('cancel', () => {
  it("forwards pg's cancel: a pg_sleep is canceled", async () => {
    const client = await f.connect(app.name, await appToken())
    const sleeping = new pg.Query('select pg_sleep(30)')
    const failed = new Promise<Error & { code?: string }>((resolve) => sleeping.on('error', (e) => resolve(e)))
    client.query(sleeping as unknown as pg.Submittable)
    await new Promise((r) => setTimeout(r, 200))
    const canceller = new pg.Client({ host: '127.0.0.1', port: f.front.port, ssl: { ca: f.ca } })
    canceller.on('error', () => {})
    // pg's own cancel path (a CancelRequest on a new connection); public in pg, missing from @types/pg
    ;(canceller as unknown as { cancel(c: pg.Client, q: pg.Query): void }).cancel(client, sleeping)
    expect(await failed).toMatchObject({ code: '57014' })
    expect(f.events.some((e) => e.type === 'cancel')).toBe(true)
    expect((await client.query('select 2 as two')).rows[0].two).toBe(2)
    await client.end()
  })

  it('forwards a CancelRequest sent over TLS too', async () => {
    const { c, greeting } = await rawSession({})
    const key = greeting.find((m) => m.type === 'K')!.body
    c.send(query('select pg_sleep(30)'))
    await new Promise((r) => setTimeout(r, 200))
    const cancel = await RawClient.open(f.front.port)
    await cancel.startTls(f.ca)
    const packet = Buffer.alloc(8 + key.length)
    packet.writeUInt32BE(packet.length, 0)
    packet.writeUInt32BE(80877102, 4)
    key.copy(packet, 8)
    cancel.send(packet)
    const reply = await untilReady(c)
    const error = reply.find((m) => m.type === 'E')
    expect(error?.body.toString()).toContain('57014')
    c.socket.end()
  })
})

describe('TLS negotiation', () => {
  it('declines GSSENCRequest with N and then accepts SSLRequest', async () => {
    const c = await RawClient.open(f.front.port)
    c.send(Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30]))
    expect((await c.bytes(1)).toString()).toBe('N')
    await c.startTls(f.ca)
    c.send(startupPacket(196608, { user: app.name }))
    expect((await c.message()).type).toBe('R')
    c.socket.end()
  })

  it('refuses a second GSSENCRequest, as PostgreSQL does (0A000)', async () => {
    const c = await RawClient.open(f.front.port)
    const gssencRequest = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30])
    c.send(gssencRequest)
    expect((await c.bytes(1)).toString()).toBe('N')
    c.send(gssencRequest)
    expect((await c.untilClosed()).toString()).toContain('0A000')
  })

  it('accepts direct TLS (sslnegotiation=direct, ALPN postgresql)', async () => {
    const client = await f.connect(app.name, await appToken(), { sslNegotiation: 'direct' } as never)
    expect((await client.query('select current_user as r')).rows[0].r).toBe(app.name)
    await client.end()
  })

  it('refuses direct TLS without ALPN postgresql, like PostgreSQL 17', async () => {
    const secure = tls.connect({ port: f.front.port, host: '127.0.0.1', ca: f.ca })
    secure.on('error', () => {})
    await new Promise((resolve) => secure.once('secureConnect', resolve))
    await new Promise((resolve) => secure.once('close', resolve))
    expect(f.events.at(-1)).toMatchObject({ type: 'rejected', reason: 'direct TLS without ALPN postgresql' })
  })

  it('refuses unencrypted bytes pipelined after SSLRequest', async () => {
    const c = await RawClient.open(f.front.port)
    c.send(Buffer.concat([Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]), startupPacket(196608, { user: 'x' })]))
    expect((await c.untilClosed()).toString()).toContain('08P01')
  })
})

describe('malformed and oversize input', () => {
  const cases: [string, Buffer][] = [
    ['a length of 2^31-1', Buffer.from([0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0])],
    ['a length shorter than a header', Buffer.from([0, 0, 0, 3, 0, 3, 0, 0])],
    ['protocol 2.0', startupPacket(2 << 16, { user: 'x' })],
    ['parameters without a terminator', Buffer.from([0, 0, 0, 13, 0, 3, 0, 0, 0x75, 0x73, 0x65, 0x72, 0])],
    ['a startup packet over 10000 bytes', startupPacket(196608, { user: 'x', options: 'y'.repeat(20_000) })],
  ]
  for (const [name, packet] of cases) {
    it(`refuses ${name} with a FATAL error and keeps serving`, async () => {
      const c = await RawClient.open(f.front.port)
      c.send(packet)
      const reply = await c.untilClosed()
      expect(reply[0]).toBe(0x45)
      expect(reply.toString()).toMatch(/FATAL.*C(08P01|0A000)/s)
      await frontStillServes()
    })
  }

  it('refuses an oversize password message and keeps serving', async () => {
    const c = await RawClient.open(f.front.port)
    await c.startTls(f.ca)
    c.send(startupPacket(196608, { user: app.name }))
    expect((await c.message()).type).toBe('R')
    c.send(passwordMessage('x'.repeat(70_000)))
    expect((await c.untilClosed()).toString()).toContain('08P01')
    await frontStillServes()
  })

  it('survives a client that disconnects mid-packet and one that sends TLS garbage', async () => {
    const a = await RawClient.open(f.front.port)
    a.send(Buffer.from([0, 0, 0, 40, 0, 3]))
    a.socket.destroy()
    const b = await RawClient.open(f.front.port)
    b.send(Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]))
    await b.bytes(1)
    b.send(Buffer.from('definitely not a TLS ClientHello'))
    await b.untilClosed()
    await frontStillServes()
  })
})

describe('load and lifecycle', () => {
  it('opens a pool of 20 connections at once', async () => {
    const pool = new pg.Pool({
      host: '127.0.0.1',
      port: f.front.port,
      user: app.name,
      database: 'postgres',
      password: appToken,
      ssl: { ca: f.ca },
      max: 20,
    })
    const results = await Promise.all(
      Array.from({ length: 20 }, () => pool.query('select pg_backend_pid() as pid, pg_sleep(0.2)')),
    )
    expect(new Set(results.map((r) => r.rows[0].pid)).size).toBe(20)
    await pool.end()
  })

  it('close() ends open sessions and stops listening', async () => {
    const { verifier } = await testVerifier()
    const front = await startPgFront({ host: 'localhost', tls: f.serverTls, upstream: f.upstream, verifier })
    expect(front.host).toBe('127.0.0.1')
    const c = await RawClient.open(front.port)
    c.send(startupPacket(196608, { user: app.name }))
    const idle = await RawClient.open(front.port)
    await front.close()
    await c.untilClosed()
    await idle.untilClosed()
    const err = await connectError(RawClient.open(front.port))
    expect(err.code).toBe('ECONNREFUSED')
  })

  it('drops a client that does not finish authenticating in time', async () => {
    const { verifier } = await testVerifier()
    const front = await startPgFront({
      host: '127.0.0.1',
      tls: f.serverTls,
      upstream: f.upstream,
      verifier,
      authenticationTimeoutMs: 300,
    })
    const silent = await RawClient.open(front.port)
    await silent.untilClosed()
    const stalled = await RawClient.open(front.port)
    await stalled.startTls(f.ca)
    stalled.send(startupPacket(196608, { user: app.name }))
    expect((await stalled.message()).type).toBe('R')
    await stalled.untilClosed()
    await front.close()
  })

  it('answers 08006 when its upstream is gone, and keeps answering', async () => {
    const upstream = await startUpstream({ kind: 'embedded' })
    const { verifier } = await testVerifier()
    const events: FrontEvent[] = []
    const front = await startPgFront({
      host: '127.0.0.1',
      tls: f.serverTls,
      upstream,
      verifier,
      onEvent: (e) => events.push(e),
    })
    await upstream.stop()
    try {
      for (let i = 0; i < 2; i++) {
        const err = await connectError(f.connect('anyone', 'x', { port: front.port }))
        expect(err.code).toBe('08006')
      }
      expect(events.at(-1)).toMatchObject({ type: 'rejected', code: '08006' })
    } finally {
      await front.close()
    }
  })

  it('refuses to listen on a non-loopback address', async () => {
    const { verifier } = await testVerifier()
    const attempt = startPgFront({ host: '0.0.0.0' as never, tls: f.serverTls, upstream: f.upstream, verifier })
    await expect(attempt).rejects.toThrow(/loopback only/)
  })
})
