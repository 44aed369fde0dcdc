// The proxy's side towards the server: a TCP connection upgraded to TLS the way libpq's verify-full does it, checked
// by the proxy itself before anything (a startup packet, a token, a cancel request) is written to it.
import { isIP, type Socket, connect as tcpConnect } from 'node:net'
import { type ConnectionOptions, connect, createSecureContext, type SecureContext, type TLSSocket } from 'node:tls'
import { serialize } from 'pg-protocol'
import { PgEntraError } from '../errors/pg-entra-error.js'
import { type PgSsl, tlsFailure } from '../tls/pg-ssl.js'
import { wireProblem } from '../tls/wire.js'
import { FrameReader } from './wire.js'

export interface UpstreamTarget {
  host: string
  port: number
  /** What resolveEntraSsl decided: TLS options, `true` (the system roots), or `false` (no TLS: only when allowed). */
  ssl: PgSsl
  /** Lets a server that answers the SSLRequest with N, or whose certificate does not verify, have the token. */
  allowUnverifiedTls: boolean
  connectTimeoutMs: number
  /** The TLS context built once from `ssl` (its CA, certificate and key), for every connection to this target. */
  secureContext?: SecureContext
}

export interface UpstreamConnection {
  socket: Socket
  /** Bytes the server sent beyond its answer to the SSLRequest (none from a well-behaved server). */
  reader: FrameReader
  verified: boolean
}

/** TLS_REQUIRED naming why (details.reason), for a server that offers no TLS or whose certificate does not verify. */
function refused(target: UpstreamTarget, reason: string, what: string, cause?: unknown): PgEntraError {
  return new PgEntraError(
    'TLS_REQUIRED',
    `TLS to ${target.host}:${target.port} failed: ${what}; the Entra token was not sent`,
    {
      hint:
        'the proxy sends tokens only over verified TLS: check the server address, and trust its CA with sslrootcert ' +
        '(Azure Database for PostgreSQL chains to the public roots Node trusts)',
      details: { host: target.host, port: target.port, reason },
      ...(cause !== undefined ? { cause } : {}),
    },
  )
}

/** The server could not be reached: no token was involved yet. */
export class UpstreamUnreachable extends Error {
  override name = 'UpstreamUnreachable'
}

function tcp(target: UpstreamTarget): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: target.host, port: target.port })
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new UpstreamUnreachable(`no answer from ${target.host}:${target.port} in time`))
    }, target.connectTimeoutMs)
    socket.once('connect', () => {
      clearTimeout(timer)
      socket.off('error', onError)
      socket.setNoDelay(true)
      resolve(socket)
    })
    const onError = (error: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      reject(new UpstreamUnreachable(`cannot reach ${target.host}:${target.port} (${error.code ?? error.message})`))
    }
    socket.once('error', onError)
  })
}

function handshake(socket: Socket, target: UpstreamTarget, options: ConnectionOptions): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    // Without a context of its own, every tls.connect builds one from the options: parsing the CA and key again.
    target.secureContext ??= createSecureContext(options)
    const secure = connect({
      ...options,
      secureContext: target.secureContext,
      socket,
      ...(isIP(target.host) ? {} : { servername: target.host }),
      rejectUnauthorized: !target.allowUnverifiedTls,
    })
    const onError = (error: Error) => {
      secure.destroy()
      reject(tlsFailure(error, target) ?? refused(target, 'handshake-failed', 'the TLS handshake failed', error))
    }
    secure.once('error', onError)
    secure.once('secureConnect', () => {
      secure.off('error', onError)
      resolve(secure)
    })
  })
}

/**
 * Opens a connection to the server and negotiates TLS (SSLRequest, 'S', handshake). Unless unverified TLS is allowed,
 * the chain must verify and the certificate must name the host (an IP host as an IP), checked here as well as by
 * Node, so that no option merged in from elsewhere can turn verification off.
 */
export async function openUpstream(target: UpstreamTarget): Promise<UpstreamConnection> {
  const socket = await tcp(target)
  if (target.ssl === false) {
    if (!target.allowUnverifiedTls) throw refused(target, 'tls-disabled', 'TLS is turned off')
    return { socket, reader: new FrameReader(socket, 'the server'), verified: false }
  }
  const options: ConnectionOptions = target.ssl === true ? {} : target.ssl
  const reader = new FrameReader(socket, 'the server')
  try {
    socket.write(serialize.requestSsl())
    const answer = await reader.readByte()
    if (reader.buffered > 0) throw refused(target, 'no-tls-answer', 'the server sent data before TLS')
    reader.detach()
    if (answer !== 0x53 /* S */) {
      if (answer === 0x4e /* N */ && target.allowUnverifiedTls) {
        return { socket, reader: new FrameReader(socket, 'the server'), verified: false }
      }
      throw answer === 0x4e
        ? refused(target, 'server-offers-no-tls', 'the server does not offer TLS')
        : refused(target, 'no-tls-answer', 'the server did not negotiate TLS')
    }
    const secure = await handshake(socket, target, options)
    const verified = verify(secure, target)
    if (!verified && !target.allowUnverifiedTls) {
      secure.destroy()
      throw refused(target, 'untrusted-certificate', "the server's certificate did not verify")
    }
    secure.setNoDelay(true)
    return { socket: secure, reader: new FrameReader(secure, 'the server'), verified }
  } catch (error) {
    reader.detach()
    socket.destroy()
    throw error
  }
}

/**
 * Whether the socket passes the one wire check every token goes through (TLS, chain verified, the certificate naming
 * the host; an IP host as an IP). No session is offered for resumption (PostgreSQL, and so Azure, resumes none), so
 * every server shows its certificate.
 */
function verify(secure: TLSSocket, target: UpstreamTarget): boolean {
  const problem = wireProblem(secure, target.host)
  if (problem?.kind === 'host-mismatch' && !target.allowUnverifiedTls) {
    secure.destroy()
    throw refused(target, 'host-name-mismatch', `the server's certificate does not name host "${target.host}"`)
  }
  return problem === undefined
}

/**
 * Forwards a client's CancelRequest packet, as received, over a new verified connection: the client holds the
 * server's own BackendKeyData (relayed untouched), so the server finds the backend. Best effort, as in libpq.
 */
export async function forwardCancelRequest(target: UpstreamTarget, packet: Buffer): Promise<void> {
  const { socket, reader } = await openUpstream(target)
  reader.detach()
  await new Promise<void>((resolve) => {
    socket.once('close', () => resolve())
    socket.once('error', () => resolve())
    socket.setTimeout(target.connectTimeoutMs, () => socket.destroy())
    socket.end(packet)
  })
}
