// Slonik resolves its password function itself before each new pool connection and hands pg a string, so with
// `password: auth.password` pg-entra never sees the socket the token goes to. With `slonikPassword(auth)` pg calls
// auth.password on that socket, on every connection. Here the server changes under a pool whose TLS settings an app
// weakened (rejectUnauthorized: false): after the first connections reach the emulator, a loopback forwarder sends
// the next one to an impostor whose certificate chains to no trusted CA.
import net from 'node:net'
import { entraAuth } from 'pg-entra'
import { slonikPassword } from 'pg-entra/slonik'
import { createPool, type DatabasePool, sql } from 'slonik'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCertificateAuthority } from '../../packages/emulator/src/pki/index.js'
import { type Impostor, startImpostor } from '../../packages/pg-entra/test/helpers/impostor.js'
import { uniqueName, useEmulator } from '../../tools/test/emulator.js'

type Emulator = Awaited<ReturnType<typeof useEmulator>>

/** A loopback TCP forwarder whose target can be changed between connections. */
async function startForwarder(target: number) {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1')
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('error', () => {})
      socket.on('close', () => sockets.delete(socket))
    }
    client.pipe(upstream).pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as net.AddressInfo).port,
    retarget(port: number) {
      target = port
    },
    async close() {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

describe('Slonik: the token goes only through a verified socket, on every pool connection', () => {
  let emulator: Emulator
  let impostor: Impostor
  beforeAll(async () => {
    emulator = await useEmulator()
    const untrusted = await createCertificateAuthority({ commonName: 'impostor CA' })
    impostor = await startImpostor(await untrusted.issueServerCertificate())
  })
  afterAll(() => impostor?.close())

  /** The first connections reach the emulator; then a new one reaches the impostor. What the impostor received. */
  async function serverSwappedUnder(password: (auth: ReturnType<typeof entraAuth>) => () => Promise<string>) {
    const sp = await emulator.addPrincipal({ kind: 'servicePrincipal', name: uniqueName('slonik-wire') })
    const auth = entraAuth({
      tenantId: sp.tenantId,
      clientId: sp.appId!,
      clientSecret: sp.secret!,
      authorityHost: emulator.authorityHost,
      authorityCa: emulator.ca,
    })
    const forwarder = await startForwarder(emulator.pg.port)
    let pool: DatabasePool | undefined
    try {
      const uri = `postgresql://${encodeURIComponent(sp.roleName!)}@127.0.0.1:${forwarder.port}/${emulator.pg.database}`
      pool = await createPool(uri, {
        password: password(auth),
        ssl: { ca: emulator.ca, rejectUnauthorized: false },
        maximumPoolSize: 2,
      })
      expect(await pool.oneFirst(sql.unsafe`select current_user`)).toBe(sp.roleName)
      const { token } = await auth.token()
      const before = impostor.received().length
      forwarder.retarget(impostor.port)
      // Two at once: one on the pooled connection (still the emulator), one on a new connection (the impostor).
      const outcomes = await Promise.allSettled(
        [0, 1].map(() => pool!.connect((connection) => connection.oneFirst(sql.unsafe`select 1`))),
      )
      const received = impostor.received().subarray(before)
      return {
        reached: received.includes(Buffer.from(sp.roleName!)), // the new connection's startup packet
        sent: received.includes(token),
        failed: outcomes.filter((o) => o.status === 'rejected').length,
      }
    } finally {
      await pool?.end()
      await forwarder.close()
      await auth.close()
    }
  }

  it('slonikPassword: the new connection reaches the impostor and gets no token', async () => {
    // (Slonik runs the query whose new connection failed on the pooled one, so both queries may succeed.)
    expect(await serverSwappedUnder(slonikPassword)).toMatchObject({ reached: true, sent: false })
  })

  it('control: with password: auth.password, Slonik resolves the token itself and the impostor receives it', async () => {
    expect(await serverSwappedUnder((auth) => auth.password)).toMatchObject({ reached: true, sent: true })
  })
})
