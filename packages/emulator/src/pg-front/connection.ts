// One client connection: TLS negotiation, the startup packet, the password exchange, then the session is opened on
// the upstream and bytes are relayed both ways.
import type net from 'node:net'
import tls from 'node:tls'
import type { UpstreamHandle } from '../upstream/index.js'
import { type CredentialCheck, checkCredentials } from './credentials.js'
import { noEncryption, tooManyClients } from './refusals.js'
import { SecurityLabelRewriter } from './security-label.js'
import type { FrontEvent, StartPgFrontOptions } from './types.js'
import { forwardCancelRequest, openUpstreamSession, upstreamSocketPath } from './upstream-session.js'
import {
  AuthenticationCleartextPassword,
  CANCEL_REQUEST_CODE,
  ConnectionClosed,
  ErrorResponse,
  errorResponseFields,
  FrameReader,
  GSSENC_REQUEST_CODE,
  MAX_PASSWORD_MESSAGE_LENGTH,
  PASSWORD_MESSAGE,
  ProtocolViolation,
  parseStartupParameters,
  SSL_REQUEST_CODE,
  TLS_HANDSHAKE,
} from './wire.js'

export class ConnectionHandler {
  private readonly socketPath: string
  private readonly upstream: UpstreamHandle
  private readonly maxConnections: number
  private active = 0

  constructor(
    private readonly opts: StartPgFrontOptions,
    private readonly secureContext: tls.SecureContext,
    private readonly track: (s: net.Socket) => void,
  ) {
    this.upstream = opts.upstream
    const sessions = opts.sessionSocket ?? { dir: opts.upstream.socketDir, port: opts.upstream.port }
    this.socketPath = upstreamSocketPath(sessions.dir, sessions.port)
    this.maxConnections = opts.maxConnections ?? 200
  }

  handle(raw: net.Socket): void {
    raw.setNoDelay(true)
    raw.on('error', () => {})
    this.active++
    raw.once('close', () => this.active--)
    const timer = setTimeout(() => raw.destroy(), this.opts.authenticationTimeoutMs ?? 30_000)
    timer.unref()
    this.run(raw)
      .catch(() => raw.destroy())
      .finally(() => clearTimeout(timer))
  }

  private emit(e: FrontEvent) {
    try {
      this.opts.onEvent?.(e)
    } catch {}
  }

  private now() {
    return this.opts.now?.() ?? Date.now()
  }

  private async run(raw: net.Socket): Promise<void> {
    let socket: net.Socket = raw
    let reader = new FrameReader(socket)
    let secure = false
    let gssencDeclined = false
    // Like a backend that exits after FATAL: the socket is gone once the message is flushed, whatever the client does.
    const fatal = (code: string, message: string) => {
      reader.detach()
      endThenDestroy(socket, raw, ErrorResponse('FATAL', code, message))
    }
    try {
      if ((await reader.peekByte()) === TLS_HANDSHAKE) {
        const received = reader.detach()
        raw.pause()
        raw.unshift(received)
        socket = await this.upgrade(raw)
        if ((socket as tls.TLSSocket).alpnProtocol !== 'postgresql') {
          this.emit({ type: 'rejected', time: this.now(), code: '08P01', reason: 'direct TLS without ALPN postgresql' })
          socket.destroy()
          return
        }
        reader = new FrameReader(socket)
        secure = true
      }
      for (;;) {
        const packet = await reader.readStartupPacket()
        const code = packet.readUInt32BE(4)
        if (code === SSL_REQUEST_CODE && !secure) {
          if (reader.buffered > 0) throw new ProtocolViolation('received unencrypted data after SSL request')
          reader.detach()
          socket.write('S')
          socket = await this.upgrade(raw)
          reader = new FrameReader(socket)
          secure = true
          continue
        }
        // Once, as PostgreSQL takes it: a repeat falls through to the protocol version check.
        if (code === GSSENC_REQUEST_CODE && !secure && !gssencDeclined) {
          gssencDeclined = true
          socket.write('N')
          continue
        }
        if (code === CANCEL_REQUEST_CODE) {
          reader.detach()
          forwardCancelRequest(this.socketPath, packet)
          this.emit({ type: 'cancel', time: this.now() })
          socket.end()
          return
        }
        if (code >> 16 !== 3) {
          throw new ProtocolViolation(`unsupported frontend protocol ${code >> 16}.${code & 0xffff}`, '0A000')
        }
        const params = parseStartupParameters(packet)
        const role = params.user
        if (!role) throw new ProtocolViolation('no PostgreSQL user name specified in startup packet', '28000')
        if (this.active > this.maxConnections) {
          const refusal = tooManyClients(this.maxConnections)
          this.emit({ type: 'rejected', time: this.now(), role, code: refusal.code, reason: refusal.reason })
          return fatal(refusal.code, refusal.message)
        }
        if (!secure) {
          const host = (raw.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '')
          const refusal = noEncryption(host, role, params.database ?? role)
          this.emit({ type: 'rejected', time: this.now(), role, code: refusal.code, reason: refusal.reason })
          return fatal(refusal.code, refusal.message)
        }
        await this.authenticate(socket, reader, packet, role, params.database ?? role, fatal)
        return
      }
    } catch (e) {
      if (e instanceof ConnectionClosed) {
        socket.destroy()
        return
      }
      if (e instanceof ProtocolViolation) {
        this.emit({ type: 'rejected', time: this.now(), code: e.code, reason: e.message })
        return fatal(e.code, e.message)
      }
      throw e
    }
  }

  private upgrade(raw: net.Socket): Promise<tls.TLSSocket> {
    const secureSocket = new tls.TLSSocket(raw, {
      isServer: true,
      secureContext: this.secureContext,
      ALPNProtocols: ['postgresql'],
    })
    this.track(secureSocket)
    return new Promise((resolve, reject) => {
      secureSocket.once('secure', () => {
        secureSocket.off('error', reject)
        secureSocket.on('error', () => {})
        resolve(secureSocket)
      })
      secureSocket.once('error', reject)
    })
  }

  private async databaseExists(database: string): Promise<boolean> {
    const { rows } = await this.upstream.adminQuery('select 1 from pg_catalog.pg_database where datname = $1', [
      database,
    ])
    return rows.length > 0
  }

  private async authenticate(
    socket: net.Socket,
    reader: FrameReader,
    startupPacket: Buffer,
    role: string,
    database: string,
    fatal: (code: string, message: string) => void,
  ): Promise<void> {
    socket.write(AuthenticationCleartextPassword)
    const message = await reader.readMessage(MAX_PASSWORD_MESSAGE_LENGTH)
    if (message[0] !== PASSWORD_MESSAGE) {
      throw new ProtocolViolation(`expected password response, got message type ${message[0]}`)
    }
    // PostgreSQL: the password is one NUL-terminated string filling the message exactly
    const terminator = message.indexOf(0, 5)
    if (terminator !== message.length - 1) throw new ProtocolViolation('invalid password packet size')
    const password = message.subarray(5, terminator).toString('utf8')
    let outcome: CredentialCheck
    try {
      outcome = await checkCredentials(
        {
          upstream: this.upstream,
          verifier: this.opts.verifier,
          nowSeconds: Math.floor(this.now() / 1000),
          clockSkewSeconds: this.opts.clockSkewSeconds ?? 60,
        },
        role,
        password,
      )
    } catch (e) {
      outcome = {
        method: 'password',
        rejection: {
          code: '08006',
          message: 'the emulator could not reach its upstream PostgreSQL',
          reason: `upstream lookup failed: ${e instanceof Error ? e.message : String(e)}`,
        },
      }
    }
    const base = { role, database, method: outcome.method, tokenFingerprint: outcome.fingerprint }
    if (outcome.rejection) {
      const { code, message: text, reason } = outcome.rejection
      this.emit({ type: 'rejected', time: this.now(), ...base, tokenId: outcome.token?.tokenId, code, reason })
      return fatal(code, text)
    }
    await this.upstream.ensureExtensionCheck(database)
    if (this.opts.sessionSocket && !(await this.databaseExists(database))) {
      // PostgreSQL's own answer; PgBouncer 1.18 would keep the client waiting on a server login that cannot succeed
      const text = `database "${database}" does not exist`
      this.emit({
        type: 'rejected',
        time: this.now(),
        ...base,
        tokenId: outcome.token?.tokenId,
        code: '3D000',
        reason: text,
      })
      return fatal('3D000', text)
    }
    let session: Awaited<ReturnType<typeof openUpstreamSession>>
    try {
      session = await openUpstreamSession(this.socketPath, startupPacket)
    } catch (e) {
      const reason = `upstream session failed: ${e instanceof Error ? e.message : String(e)}`
      this.emit({ type: 'rejected', time: this.now(), ...base, tokenId: outcome.token?.tokenId, code: '08006', reason })
      return fatal('08006', 'the emulator could not open a session on its upstream PostgreSQL')
    }
    if (!session.ok) {
      const refusal = errorResponseFields(session.errorResponse)
      const reason = `upstream refused the session: ${refusal.message}`
      const tokenId = outcome.token?.tokenId
      this.emit({ type: 'rejected', time: this.now(), ...base, tokenId, code: refusal.code, reason })
      reader.detach()
      endThenDestroy(socket, socket, session.errorResponse)
      return
    }
    const upstreamSocket = session.socket
    this.track(upstreamSocket)
    const pending = reader.detach()
    if (socket.destroyed) {
      upstreamSocket.destroy()
      return
    }
    socket.write(session.greeting)
    if (pending.length > 0) upstreamSocket.write(pending)
    relay(socket, upstreamSocket)
    this.emit({
      type: 'accepted',
      time: this.now(),
      ...base,
      tokenId: outcome.token?.tokenId,
      oid: outcome.token?.oid,
    })
  }
}

/** Sends a last message, then releases the descriptor even if the client never closes its side. */
function endThenDestroy(socket: net.Socket, raw: net.Socket, last: Buffer): void {
  socket.end(last, () => {
    socket.destroy()
    raw.destroy()
  })
}

/** Bytes both ways until either side ends; an error on one side tears down both. Client-to-upstream bytes pass
 * through the SECURITY LABEL rewriter. */
function relay(client: net.Socket, upstream: net.Socket): void {
  const teardown = () => {
    client.destroy()
    upstream.destroy()
  }
  client.on('error', teardown)
  upstream.on('error', teardown)
  client.on('close', () => upstream.end())
  upstream.on('close', () => client.end())
  const rewriter = new SecurityLabelRewriter()
  client.on('data', (chunk: Buffer) => {
    let flowing = true
    for (const part of rewriter.feed(chunk)) flowing = upstream.write(part) && flowing
    if (!flowing) client.pause()
  })
  upstream.on('drain', () => client.resume())
  client.on('end', () => upstream.end())
  upstream.pipe(client)
}
