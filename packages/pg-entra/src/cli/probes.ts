// The network steps of `pg-entra check`, each on its own so that a failure names the layer that broke.
import { lookup } from 'node:dns/promises'
import { isIP, Socket } from 'node:net'
import { checkServerIdentity, type PeerCertificate, type TLSSocket, connect as tlsConnect } from 'node:tls'

export interface DnsResult {
  addresses: string[]
}

export async function resolveHost(host: string): Promise<DnsResult> {
  if (isIP(host)) return { addresses: [host] }
  const answers = await lookup(host, { all: true })
  return { addresses: answers.map((answer) => answer.address) }
}

/** A TCP connection to host:port, closed again; rejects with the socket's error or a timeout. */
export function openTcp(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = new Socket()
    const fail = (error: Error) => {
      socket.destroy()
      reject(error)
    }
    socket.setTimeout(timeoutMs, () =>
      fail(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })),
    )
    socket.once('error', fail)
    socket.connect(port, host, () => {
      socket.setTimeout(0)
      socket.removeListener('error', fail)
      resolve(socket)
    })
  })
}

export interface TlsResult {
  /** 'N' when the server answered the SSLRequest with "no TLS here". */
  accepted: boolean
  protocol?: string
  subject?: string
  issuer?: string
  validTo?: string
  /** undefined when the chain verified against the CA(s) given, else OpenSSL's reason (e.g. SELF_SIGNED_CERT_IN_CHAIN). */
  chainError?: string
  /** undefined when the certificate is valid for the host name, else why not. */
  hostError?: string
}

export interface TlsProbeOptions {
  host: string
  port: number
  ca?: string | Buffer | (string | Buffer)[]
  servername?: string
  timeoutMs: number
}

const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 4, 210, 22, 47]) // length 8, code 80877103

/** PostgreSQL's SSLRequest, then a TLS handshake that records (rather than enforces) chain and host name checks. */
export async function probeTls(options: TlsProbeOptions): Promise<TlsResult> {
  const socket = await openTcp(options.host, options.port, options.timeoutMs)
  try {
    const answer = await readOneByte(socket, options.timeoutMs)
    if (answer !== 'S') return { accepted: false }
    const tls = await handshake(socket, options)
    try {
      const certificate = tls.getPeerCertificate()
      const hostError = checkServerIdentity(options.host, certificate)
      return {
        accepted: true,
        protocol: tls.getProtocol() ?? undefined,
        subject: name(certificate.subject),
        issuer: name(certificate.issuer),
        validTo: certificate.valid_to,
        chainError: tls.authorized ? undefined : String(tls.authorizationError),
        hostError: hostError?.message,
      }
    } finally {
      tls.destroy()
    }
  } finally {
    socket.destroy()
  }
}

function readOneByte(socket: Socket, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => done(Object.assign(new Error(`no answer to SSLRequest within ${timeoutMs} ms`), { code: 'NO_SSL_ANSWER' })),
      timeoutMs,
    )
    const done = (error: Error | undefined, byte?: string) => {
      clearTimeout(timer)
      socket.removeListener('data', onData)
      socket.removeListener('error', done)
      socket.removeListener('close', onClose)
      if (error) reject(error)
      else resolve(byte!)
    }
    const onData = (data: Buffer) => {
      socket.pause()
      done(undefined, String.fromCharCode(data[0]!))
    }
    const onClose = () =>
      done(
        Object.assign(new Error('the server closed the connection before answering the SSLRequest'), {
          code: 'ECONNRESET',
        }),
      )
    socket.on('data', onData)
    socket.once('error', done)
    socket.once('close', onClose)
    socket.write(SSL_REQUEST)
  })
}

function handshake(socket: Socket, options: TlsProbeOptions): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const tls = tlsConnect({
      socket,
      ca: options.ca,
      servername: options.servername ?? (isIP(options.host) ? undefined : options.host),
      // Verification is recorded below instead of enforced here, so that the step can say which part failed.
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
    })
    const timer = setTimeout(() => {
      tls.destroy()
      reject(new Error(`TLS handshake did not finish within ${options.timeoutMs} ms`))
    }, options.timeoutMs)
    tls.once('secureConnect', () => {
      clearTimeout(timer)
      resolve(tls)
    })
    tls.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
  })
}

function name(entity: PeerCertificate['subject'] | undefined): string | undefined {
  if (!entity) return undefined
  return entity.CN
    ? `CN=${entity.CN}`
    : Object.entries(entity)
        .map(([key, value]) => `${key}=${value}`)
        .join(', ')
}
