// A connection to a PostgreSQL server that is TLS verified for the host before anyone writes to it: PostgreSQL's
// SSLRequest, the TLS handshake, then the wire check. For clients whose password function never sees the socket
// (postgres.js calls `pass()` with no context): they are given this socket, so the token can only travel over it.
import net from 'node:net'
import tls, { type ConnectionOptions } from 'node:tls'
import { PgEntraError } from '../errors/pg-entra-error.js'
import { tlsFailure } from '../tls/pg-ssl.js'
import { refusedAtTheWire, wireProblem } from '../tls/wire.js'
import { connectionFailure } from './pg-login.js'

const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 4, 210, 22, 47])
const ACCEPTED = 0x53 // 'S'

export interface VerifiedSocketTarget {
  host: string
  port: number
  /** Node TLS options (CA, client certificate) from the kernel's TLS verdict; `false`: plain, only when allowed. */
  tls: ConnectionOptions | boolean
  allowUnverifiedTls: boolean
  timeoutMs: number
}

/** Resolves with a socket ready for the StartupMessage; rejects with TLS_REQUIRED or the network error. */
export function openVerifiedSocket(target: VerifiedSocketTarget): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const raw = net.connect(target.port, target.host)
    raw.setNoDelay(true)
    let settled = false
    let current: net.Socket = raw
    const timer = setTimeout(() => {
      fail(
        Object.assign(new Error(`no TLS connection to ${target.host}:${target.port} within ${target.timeoutMs} ms`), {
          code: 'ETIMEDOUT',
        }),
      )
    }, target.timeoutMs)
    const fail = (error: unknown) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      current.destroy()
      raw.destroy()
      reject(error)
    }
    const succeed = (socket: net.Socket) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.removeListener('error', fail)
      resolve(socket)
    }
    raw.once('error', (error) => fail(connectionFailure(error, target) ?? error))
    raw.once('connect', () => {
      if (target.tls === false) return succeed(raw)
      raw.write(SSL_REQUEST)
      raw.once('data', (answer: Buffer) => {
        if (answer[0] !== ACCEPTED) {
          return fail(refusedAtTheWire({ kind: 'no-tls' }, target, ['the server answered the SSLRequest with N']))
        }
        if (answer.length > 1) {
          // Bytes before the handshake: a man in the middle injecting plaintext (CVE-2021-23222).
          return fail(
            new PgEntraError('TLS_REQUIRED', 'the server sent data before the TLS handshake; the token was not sent', {
              hint: 'something between this client and the server is tampering with the connection',
              details: { host: target.host },
            }),
          )
        }
        const options = typeof target.tls === 'object' ? target.tls : {}
        const secure = tls.connect({
          ...options,
          socket: raw,
          ...(net.isIP(target.host) ? {} : { servername: target.host }),
          ...(target.allowUnverifiedTls ? {} : { rejectUnauthorized: true }),
        })
        current = secure
        secure.once('error', (error) => fail(tlsFailure(error, target) ?? error))
        secure.once('secureConnect', () => {
          const problem = target.allowUnverifiedTls ? undefined : wireProblem(secure, target.host)
          if (problem) return fail(refusedAtTheWire(problem, target))
          succeed(secure)
        })
      })
    })
  })
}
