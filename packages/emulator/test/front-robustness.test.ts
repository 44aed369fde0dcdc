// The front under hostile input, generated with fast-check: random bytes, truncated packets, huge and tiny lengths,
// garbage after SSLRequest and after the TLS handshake, garbage in place of the password. The front runs in this
// process: a crash fails the run. After each batch it must still close every bad connection and serve a good one.
import { randomUUID } from 'node:crypto'
import net from 'node:net'
import tls from 'node:tls'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TLS_HANDSHAKE } from '../src/pg-front/wire.js'
import { type FrontFixture, startFrontFixture } from './front-fixtures.js'

let f: FrontFixture
const app = { name: `robust-app-${randomUUID().slice(0, 8)}`, oid: randomUUID() }
const appToken = () => f.mint({ oid: app.oid, sub: app.oid, appid: randomUUID(), idtyp: 'app' })

beforeAll(async () => {
  f = await startFrontFixture()
  await f.upstream.adminQuery(`select pgaadauth_create_principal_with_oid($1, $2, 'service', false, false)`, [
    app.name,
    app.oid,
  ])
})
afterAll(() => f?.stop())

const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])
/** How long the front may take to drop a connection whose client has sent its garbage and hung up. */
const CLOSE_BOUND_MS = 5_000

function startupPacket(params: Record<string, string>, version = 196608): Buffer {
  const body = Buffer.concat([...Object.entries(params).map(([k, v]) => Buffer.from(`${k}\0${v}\0`)), Buffer.from([0])])
  const head = Buffer.alloc(8)
  head.writeUInt32BE(8 + body.length, 0)
  head.writeUInt32BE(version, 4)
  return Buffer.concat([head, body])
}

function message(type: number, body: Buffer, length = body.length + 4): Buffer {
  const head = Buffer.alloc(5)
  head[0] = type
  head.writeUInt32BE(length >>> 0, 1)
  return Buffer.concat([head, body])
}

/** A socket that collects what the front answers and reports whether (and how fast) it was closed. */
function watch(socket: net.Socket) {
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  socket.on('error', () => {})
  const closed = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), CLOSE_BOUND_MS)
    socket.once('close', () => {
      clearTimeout(timer)
      resolve(true)
    })
  })
  return { answer: () => Buffer.concat(chunks), closed }
}

async function open(): Promise<net.Socket> {
  const socket = net.connect(f.front.port, '127.0.0.1')
  socket.on('error', () => {})
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  return socket
}

/** Reads exactly n bytes (or fewer if the socket closes). */
function read(socket: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve) => {
    let got = Buffer.alloc(0)
    const onData = (chunk: Buffer) => {
      got = Buffer.concat([got, chunk])
      if (got.length >= n) finish()
    }
    const finish = () => {
      socket.off('data', onData)
      socket.off('close', finish)
      const rest = got.subarray(n)
      if (rest.length > 0) socket.unshift(rest)
      resolve(got.subarray(0, n))
    }
    socket.on('data', onData)
    socket.once('close', finish)
  })
}

/** SSLRequest, 'S', and a verified TLS session on the same socket. */
async function openTls(): Promise<tls.TLSSocket> {
  const raw = await open()
  raw.write(SSL_REQUEST)
  expect((await read(raw, 1)).toString()).toBe('S')
  const secure = tls.connect({ socket: raw, ca: f.ca, host: '127.0.0.1' })
  secure.on('error', () => {})
  await new Promise((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject))
  return secure
}

/** Sends `bytes` on a fresh (plain or TLS) connection, hangs up, and reports whether the front closed it in time. */
async function sendAndHangUp(bytes: Buffer, how: 'plain' | 'after-ssl-request' | 'after-tls' | 'after-startup') {
  let socket: net.Socket
  if (how === 'plain') {
    socket = await open()
  } else if (how === 'after-ssl-request') {
    socket = await open()
    socket.write(SSL_REQUEST)
    await read(socket, 1)
  } else {
    socket = await openTls()
    if (how === 'after-startup') {
      socket.write(startupPacket({ user: app.name, database: 'postgres' }))
      await read(socket, 9) // AuthenticationCleartextPassword
    }
  }
  const watched = watch(socket)
  socket.write(bytes)
  socket.end()
  const closed = await watched.closed
  if (!closed) socket.destroy()
  return { closed, answer: watched.answer() }
}

async function frontStillServes(): Promise<void> {
  const client = await f.connect(app.name, await appToken())
  expect((await client.query('select 1 as one')).rows[0].one).toBe(1)
  await client.end()
}

const bytes = (max: number) => fc.uint8Array({ minLength: 1, maxLength: max }).map((a) => Buffer.from(a))

describe('the front refuses hostile input and keeps serving', () => {
  it('random bytes as the first packet', async () => {
    await fc.assert(
      fc.asyncProperty(bytes(2_000), async (garbage) => {
        expect((await sendAndHangUp(garbage, 'plain')).closed).toBe(true)
      }),
      { numRuns: 60 },
    )
    await frontStillServes()
  })

  it('random bytes after SSLRequest, in place of the TLS handshake', async () => {
    await fc.assert(
      fc.asyncProperty(bytes(2_000), async (garbage) => {
        expect((await sendAndHangUp(garbage, 'after-ssl-request')).closed).toBe(true)
      }),
      { numRuns: 40 },
    )
    await frontStillServes()
  })

  it('truncated startup packets, plain and inside TLS', async () => {
    const full = startupPacket({ user: app.name, database: 'postgres', application_name: 'robustness' })
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: full.length - 1 }), fc.boolean(), async (cut, inTls) => {
        const outcome = await sendAndHangUp(full.subarray(0, cut), inTls ? 'after-tls' : 'plain')
        expect(outcome.closed).toBe(true)
      }),
      { numRuns: 40 },
    )
    await frontStillServes()
  })

  it('startup packets with huge, tiny and lying lengths get a FATAL answer', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          // A first byte of 0x16 opens direct TLS (PostgreSQL 17's sslnegotiation=direct), as it does on PostgreSQL:
          // a bad handshake is closed without an ErrorResponse, which cannot be sent to a client speaking TLS.
          fc.integer({ min: 10_001, max: 0xffffffff }).filter((length) => length >>> 24 !== TLS_HANDSHAKE),
          fc.integer({ min: 0, max: 7 }),
        ),
        bytes(64),
        fc.boolean(),
        async (length, tail, inTls) => {
          const head = Buffer.alloc(8)
          head.writeUInt32BE(length, 0)
          head.writeUInt32BE(196608, 4)
          const outcome = await sendAndHangUp(Buffer.concat([head, tail]), inTls ? 'after-tls' : 'plain')
          expect(outcome.closed).toBe(true)
          if (!inTls) expect(outcome.answer[0], 'an ErrorResponse').toBe(0x45)
        },
      ),
      { numRuns: 40 },
    )
    await frontStillServes()
  })

  it('garbage, huge lengths and truncations in place of the password message', async () => {
    const password = Buffer.from(`${await appToken()}\0`)
    const replies = fc.oneof(
      bytes(512),
      fc.integer({ min: 65_536, max: 0xffffffff }).map((length) => message(0x70, Buffer.alloc(0), length)),
      fc.integer({ min: 0, max: 3 }).map((length) => message(0x70, Buffer.alloc(0), length)),
      fc.integer({ min: 1, max: password.length - 1 }).map((cut) => message(0x70, password).subarray(0, cut)),
      fc.constantFrom(0x51, 0x58, 0x00, 0xff).map((type) => message(type, password)),
    )
    await fc.assert(
      fc.asyncProperty(replies, async (reply) => {
        expect((await sendAndHangUp(reply, 'after-startup')).closed).toBe(true)
      }),
      { numRuns: 40 },
    )
    await frontStillServes()
  })

  it('an oversize password message is refused before it is all sent', async () => {
    const socket = await openTls()
    socket.write(startupPacket({ user: app.name, database: 'postgres' }))
    await read(socket, 9)
    const watched = watch(socket)
    // Announce 1 GiB and send 1 MiB of it: the front must answer and close, not buffer and wait.
    socket.write(message(0x70, Buffer.alloc(1 << 20, 0x61), 1 << 30))
    expect(await watched.closed).toBe(true)
    expect(watched.answer().toString()).toContain('08P01')
    await frontStillServes()
  })

  it('fifty hostile connections at once, then good ones', async () => {
    const garbage = fc.sample(bytes(4_000), { numRuns: 50, seed: 7 })
    const outcomes = await Promise.all(garbage.map((g, i) => sendAndHangUp(g, i % 2 ? 'plain' : 'after-ssl-request')))
    expect(outcomes.every((o) => o.closed)).toBe(true)
    await Promise.all([frontStillServes(), frontStillServes(), frontStillServes()])
  })
})
