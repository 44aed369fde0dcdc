// The wire check on real TLS sockets over loopback, with Node's own name check turned off (as sslmode=verify-ca does):
// the host connected to must be named by the certificate, every time, and the check leaves the socket as it found it
// (on Node 20 and 22, calling getPeerX509Certificate() empties every later getPeerCertificate(), pg's included). A
// verdict readied as the handshake ends stands in for reading the certificate again only on TLS 1.3, for its host.
import type { AddressInfo } from 'node:net'
import tls from 'node:tls'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createCertificateAuthority } from '../../../emulator/src/pki/index.js'
import { checkWireWhenSecure, wireProblem } from '../../src/tls/wire.js'

describe('wireProblem on a real TLS socket', () => {
  let server: tls.Server
  let tls12Server: tls.Server
  let ca: string
  const sockets: tls.TLSSocket[] = []

  beforeAll(async () => {
    const authority = await createCertificateAuthority({ commonName: 'wire test CA' })
    ca = authority.caPem
    const certificate = await authority.issueServerCertificate()
    server = tls.createServer(certificate, (socket) => socket.on('error', () => {}))
    tls12Server = tls.createServer({ ...certificate, maxVersion: 'TLSv1.2' }, (socket) => socket.on('error', () => {}))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    await new Promise<void>((resolve) => tls12Server.listen(0, '127.0.0.1', resolve))
  })
  afterAll(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => server.close(resolve))
    await new Promise((resolve) => tls12Server.close(resolve))
  })

  /**
   * A socket whose chain verified; Node's own name check is turned off, as sslmode=verify-ca does. `early`: the
   * certificate part of the check is readied for that host as the handshake ends, as pg-entra/pg's clients do.
   */
  async function verifiedSocket({
    to = server,
    early,
  }: {
    to?: tls.Server
    early?: string
  } = {}): Promise<tls.TLSSocket> {
    const { port } = to.address() as AddressInfo
    const socket = tls.connect({ host: '127.0.0.1', port, ca, checkServerIdentity: () => undefined })
    sockets.push(socket)
    if (early !== undefined) checkWireWhenSecure(socket, early)
    await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject))
    await new Promise((resolve) => setImmediate(resolve))
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

  it('uses a verdict readied at the handshake on TLS 1.3, for that host only, refusals included', async () => {
    const named = await verifiedSocket({ early: '127.0.0.1' })
    expect(named.getProtocol()).toBe('TLSv1.3')
    const reads = vi.spyOn(named, 'getPeerCertificate')
    expect(wireProblem(named, '127.0.0.1')).toBeUndefined()
    expect(reads).not.toHaveBeenCalled()
    expect(wireProblem(named, 'example.invalid')).toMatchObject({ kind: 'host-mismatch' })
    expect(reads).toHaveBeenCalledTimes(1)

    const unnamed = await verifiedSocket({ early: 'example.invalid' })
    const unnamedReads = vi.spyOn(unnamed, 'getPeerCertificate')
    expect(wireProblem(unnamed, 'example.invalid')).toMatchObject({ kind: 'host-mismatch' })
    expect(unnamedReads).not.toHaveBeenCalled()
  })

  it('reads the certificate again at the password on TLS 1.2, where a renegotiation can change it', async () => {
    const socket = await verifiedSocket({ to: tls12Server, early: '127.0.0.1' })
    expect(socket.getProtocol()).toBe('TLSv1.2')
    const reads = vi.spyOn(socket, 'getPeerCertificate')
    expect(wireProblem(socket, '127.0.0.1')).toBeUndefined()
    expect(reads).toHaveBeenCalledTimes(1)
  })

  it('readies nothing for a socket whose chain did not verify: the password check refuses it', async () => {
    const { port } = server.address() as AddressInfo
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false })
    sockets.push(socket)
    checkWireWhenSecure(socket, '127.0.0.1')
    await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject))
    await new Promise((resolve) => setImmediate(resolve))
    expect(wireProblem(socket, '127.0.0.1')).toMatchObject({ kind: 'chain-unverified' })
  })
})
