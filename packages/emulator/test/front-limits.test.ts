// The front's limits: a connection cap answered as PostgreSQL does (53300), sockets released right after a FATAL
// even when the client never closes, counters that clients cannot grow without bound, log lines they cannot forge,
// and an empty password refused with a clean reason.
import { randomUUID } from 'node:crypto'
import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCounters, MAX_ROLES_COUNTED } from '../src/counters/index.js'
import { describeFrontEvent } from '../src/emulator.js'
import { startPgFront } from '../src/pg-front/index.js'
import type { FrontEvent } from '../src/pg-front/types.js'
import { connectError, type FrontFixture, startFrontFixture } from './front-fixtures.js'
import { startupPacket } from './wire-client.js'

let f: FrontFixture
const app = { name: `limits-app-${randomUUID().slice(0, 8)}`, oid: randomUUID() }
const appToken = () => f.mint({ oid: app.oid, sub: app.oid, appid: randomUUID(), idtyp: 'app' })

beforeAll(async () => {
  f = await startFrontFixture()
  await f.upstream.adminQuery(`select pgaadauth_create_principal_with_oid($1, $2, 'service', false, false)`, [
    app.name,
    app.oid,
  ])
})
afterAll(() => f?.stop())

describe('connection cap', () => {
  it('one connection over the cap gets FATAL 53300 "sorry, too many clients already"; freed slots serve again', async () => {
    const events: FrontEvent[] = []
    const capped = await startPgFront({
      host: '127.0.0.1',
      tls: f.serverTls,
      upstream: f.upstream,
      verifier: f.verifier,
      maxConnections: 2,
      onEvent: (e) => events.push(e),
    })
    try {
      const held = [await f.connect(app.name, await appToken(), { port: capped.port })]
      held.push(await f.connect(app.name, await appToken(), { port: capped.port }))
      const err = await connectError(f.connect(app.name, await appToken(), { port: capped.port }))
      expect(err).toEqual({ code: '53300', message: 'sorry, too many clients already' })
      expect(events.at(-1)).toMatchObject({ type: 'rejected', code: '53300' })
      await held.pop()!.end()
      // the slot frees once the front sees the socket close; the next attempt waits for nothing else
      for (;;) {
        const attempt = await f
          .connect(app.name, await appToken(), { port: capped.port })
          .then((c) => c)
          .catch((e: { code?: string }) => e)
        if ('query' in attempt) {
          await attempt.end()
          break
        }
        expect(attempt.code).toBe('53300')
      }
      for (const c of held) await c.end()
    } finally {
      await capped.close()
    }
  })
})

describe('sockets after a FATAL', () => {
  it('300 plain-TCP clients refused for lack of TLS, which never close their side, do not hold descriptors', async () => {
    const clients = await Promise.all(
      Array.from({ length: 300 }, async () => {
        // allowHalfOpen: the client keeps its side open after the front's FIN, as the clients of the issue did
        const socket = net.connect({ port: f.front.port, host: '127.0.0.1', allowHalfOpen: true })
        socket.on('error', () => {})
        await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject))
        const answer: Buffer[] = []
        socket.on('data', (c: Buffer) => answer.push(c))
        const ended = new Promise<void>((resolve) => socket.once('end', () => resolve()))
        const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
        socket.write(startupPacket({ user: app.name, database: 'postgres' }))
        return { socket, ended, closed, answer }
      }),
    )
    await Promise.all(clients.map((c) => c.ended))
    // A front that only half-closed would take these bytes for ever; one that released the descriptor answers the
    // first with RST, and the next write fails (EPIPE), which closes the client socket.
    await Promise.all(clients.map((c) => writeUntilRefused(c.socket)))
    await Promise.all(clients.map((c) => c.closed))
    for (const c of clients) expect(Buffer.concat(c.answer).toString('utf8')).toContain('no encryption')
  })
})

async function writeUntilRefused(socket: net.Socket): Promise<void> {
  while (!socket.destroyed) {
    await new Promise<void>((resolve) => socket.write('still here?', () => resolve()))
    await new Promise((resolve) => setTimeout(resolve, 20)) // pacing only: the RST needs a moment to come back
  }
}

describe('counters and log lines', () => {
  it(`keeps at most ${MAX_ROLES_COUNTED} role names, dropping the least recently seen`, () => {
    const counters = createCounters()
    const reject = (role: string): FrontEvent => ({ type: 'rejected', time: 0, role, code: '28P01', reason: 'x' })
    counters.frontEvent(reject('kept'))
    for (let i = 0; i < 3000; i++) {
      counters.frontEvent(reject(`invented-${i}`))
      if (i % 500 === 0) counters.frontEvent(reject('kept'))
    }
    counters.frontEvent(reject('kept'))
    const byRole = counters.snapshot().pg.byRole
    expect(Object.keys(byRole)).toHaveLength(MAX_ROLES_COUNTED)
    expect(byRole.kept?.rejected).toBe(8)
    expect(byRole['invented-0']).toBeUndefined()
    expect(byRole['invented-2999']).toBeDefined()
    expect(counters.snapshot().pg.rejected).toBe(3008)
  })

  it('a role name with a newline and control characters cannot forge a log line', async () => {
    const forged = 'eve\npg: accepted role=admin via token\r\u2028\u001b[2J'
    await connectError(f.connect(forged, await appToken(), { ssl: false }))
    const event = f.lastEvent(forged)
    expect(event).toMatchObject({ type: 'rejected', code: '28000' })
    const line = describeFrontEvent(event!)!
    for (const raw of ['\n', '\r', '\u2028', '\u001b']) expect(line).not.toContain(raw)
    expect(line).toContain('role=eve\\npg: accepted role=admin via token\\r\\u2028\\x1b[2J')
  })

  it('an empty password for a mapped role is refused with a clean reason', async () => {
    const err = await connectError(f.connect(app.name, ''))
    expect(err.code).toBe('28P01')
    expect(f.lastEvent(app.name)).toMatchObject({ type: 'rejected', reason: 'empty password returned by client' })
  })
})
