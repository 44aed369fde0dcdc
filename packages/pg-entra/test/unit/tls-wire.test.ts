// The wire check on real TLS sockets over loopback, with Node's own name check turned off (as sslmode=verify-ca does):
// the host connected to must be named by the certificate, every time, and the check leaves the socket as it found it
// (on Node 20 and 22, calling getPeerX509Certificate() empties every later getPeerCertificate(), pg's included).
import type { AddressInfo } from 'node:net'
import tls from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCertificateAuthority } from '../../../emulator/src/pki/index.js'
import { wireProblem } from '../../src/tls/wire.js'

describe('wireProblem on a real TLS socket', () => {
  let server: tls.Server
  let ca: string
  const sockets: tls.TLSSocket[] = []

  beforeAll(async () => {
    const authority = await createCertificateAuthority({ commonName: 'wire test CA' })
    ca = authority.caPem
    server = tls.createServer(await authority.issueServerCertificate(), (socket) => socket.on('error', () => {}))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  })
  afterAll(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => server.close(resolve))
  })

  /** A socket whose chain verified; Node's own name check is turned off, as sslmode=verify-ca does. */
  async function verifiedSocket(): Promise<tls.TLSSocket> {
    const { port } = server.address() as AddressInfo
    const socket = tls.connect({ host: '127.0.0.1', port, ca, checkServerIdentity: () => undefined })
    sockets.push(socket)
    await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject))
    return socket
  }

  it('passes each host the certificate names and refuses every other, on every socket', async () => {
    const first = await verifiedSocket()
    expect(wireProblem(first, 'example.invalid')).toMatchObject({ kind: 'host-mismatch' })
    expect(wireProblem(first, '127.0.0.1')).toBeUndefined()
    expect(wireProblem(first, '127.0.0.1')).toBeUndefined()
    const second = await verifiedSocket()
    expect(wireProblem(second, '127.0.0.1')).toBeUndefined()
    expect(wireProblem(second, 'localhost')).toBeUndefined()
    expect(wireProblem(second, '[::1]')).toBeUndefined()
    for (const other of ['127.0.0.2', 'example.invalid', '::2']) {
      expect(wireProblem(second, other), other).toMatchObject({ kind: 'host-mismatch' })
    }
    expect(second.getPeerCertificate().subjectaltname).toContain('IP Address:127.0.0.1')
  })

  it('refuses a socket whose chain did not verify, whatever its certificate named before', async () => {
    const { port } = server.address() as AddressInfo
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false })
    sockets.push(socket)
    await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject))
    expect(wireProblem(socket, '127.0.0.1')).toMatchObject({ kind: 'chain-unverified' })
  })
})
