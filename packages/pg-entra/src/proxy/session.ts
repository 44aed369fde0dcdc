// One client connection: the start-up phase (SSLRequest, local password, the server's login with a token), then a
// relay of bytes in both directions that parses nothing.
import type { Socket } from 'node:net'
import { serialize } from 'pg-protocol'
import type { EntraAuth } from '../auth/types.js'
import { isPgEntraError } from '../errors/pg-entra-error.js'
import { matchesLocalPassword } from './local-password.js'
import type { ProxyConnectionEvent } from './options.js'
import { forwardCancelRequest, openUpstream, type UpstreamTarget } from './upstream.js'
import {
  AUTH_CLEARTEXT_PASSWORD,
  AUTH_OK,
  AUTHENTICATION,
  AuthenticationCleartextPassword,
  CANCEL_REQUEST_CODE,
  ConnectionClosed,
  ERROR_RESPONSE,
  errorResponse,
  errorResponseFields,
  FrameReader,
  GSSENC_REQUEST_CODE,
  PASSWORD_MESSAGE,
  parseStartupParameters,
  SSL_REQUEST_CODE,
  startupMessage,
  withHint,
} from './wire.js'

export interface SessionSettings {
  auth: EntraAuth
  target: UpstreamTarget
  localPassword?: string
  defaultUser?: string
  report(event: Omit<ProxyConnectionEvent, 'time' | 'client'>): void
  /** The server socket, once opened: the proxy destroys it with the client's when it stops. */
  track(socket: Socket): void
  /** Set when this client is one more than the proxy takes at once: refused with 53300, no server connection opened. */
  overCapacity?: { maxConnections: number }
  /** The OS user the proxy runs as: the user name libpq clients send when they are given none. */
  osUser?: string
}

/** A refusal the client gets as FATAL with this SQLSTATE before the connection closes. */
class Refusal extends Error {
  constructor(
    readonly sqlstate: string,
    message: string,
    readonly hint?: string,
  ) {
    super(message)
  }
}

const authenticationMethods: Record<number, string> = { 5: 'MD5', 7: 'GSSAPI', 9: 'SSPI', 10: 'SASL (SCRAM)' }

export async function runSession(client: Socket, settings: SessionSettings): Promise<void> {
  client.setNoDelay(true)
  // A client that does not complete its start-up in time (however it trickles it) does not hold a server connection
  // for long: a deadline, as PostgreSQL's authentication_timeout, not an idle timeout.
  const startupDeadline = setTimeout(() => client.destroy(), settings.target.connectTimeoutMs * 2)
  client.once('close', () => clearTimeout(startupDeadline))
  client.on('error', () => client.destroy())
  const reader = new FrameReader(client, 'the client')
  let user: string | undefined
  let database: string | undefined
  // The server's TCP and TLS handshakes overlap the client's start-up (no token goes out before the client's
  // StartupMessage). Not with a local password: then nothing goes to the server before the client has given it.
  let early = settings.localPassword === undefined && !settings.overCapacity ? open(settings) : undefined
  early?.catch(() => {}) // a failure is reported where the connection is used
  const declined = new Set<number>()
  let started = false
  try {
    const first = await readStartup(client, reader, declined)
    started = true
    if (first.kind === 'cancel') {
      // On a connection of its own, not tracked with the client's: the client may hang up before it is sent. The
      // client is answered (closed) once the server has the request, as the server itself does.
      reader.detach()
      void early?.then((connection) => connection.socket.destroy()).catch(() => {})
      settings.report({ outcome: 'cancel' })
      await forwardCancelRequest(settings.target, first.packet).catch(() => {})
      client.end()
      return
    }
    const params = parseStartupParameters(first.packet)
    const named = params.get('user') || undefined
    user = named || settings.defaultUser
    // As PostgreSQL does: a cancel request is served whatever the count, anything else over it is refused.
    if (settings.overCapacity) {
      throw new Refusal(
        '53300',
        'sorry, too many clients already',
        `the pg-entra proxy takes ${settings.overCapacity.maxConnections} client connections at once (maxConnections, --max-connections)`,
      )
    }
    if (settings.localPassword !== undefined) await checkLocalPassword(client, reader, settings.localPassword, user)
    if (!user) user = await principalOf(settings.auth)
    params.set('user', user)
    database = params.get('database') || user
    const protocolVersion = first.packet.readUInt32BE(4)
    // A token the server refuses (28P01/28000) may be one it no longer accepts: once, a fresh token on a new connection.
    for (let attempt = 1; ; attempt++) {
      const upstream = await (early ?? open(settings))
      early = undefined
      upstream.socket.on('error', () => upstream.socket.destroy())
      upstream.socket.write(startupMessage(protocolVersion, params))
      let sentToken: string | undefined
      const outcome = await login(
        upstream,
        async () => {
          sentToken = await tokenOf(settings.auth)
          return sentToken
        },
        (message) => client.write(message),
      )
      if (outcome.kind === 'ok') {
        clearTimeout(startupDeadline)
        relay(client, reader.detach(), upstream.socket, outcome.message, upstream.reader.detach())
        settings.report({ outcome: 'connected', user, database })
        return
      }
      upstream.socket.destroy()
      const { code, message: text } = errorResponseFields(outcome.message)
      if (sentToken !== undefined && attempt === 1 && (code === '28P01' || code === '28000')) {
        settings.auth.invalidate(sentToken)
        continue
      }
      // The server's own refusal (a role the token does not map to...) goes to the client as it is, with a hint
      // when the role refused is the OS user's name: what psql and other libpq clients send when given no user.
      const osUserRefused = named !== undefined && named === settings.osUser && (code === '28P01' || code === '28000')
      client.end(
        osUserRefused
          ? withHint(
              outcome.message,
              `"${named}" is your OS user name, which psql and other libpq clients send when they are given no user: ` +
                "give the database role with -U or PGUSER (pg-entra whoami names the token's own)",
            )
          : outcome.message,
      )
      reader.detach()
      settings.report({ outcome: 'refused', user, database, code, reason: text })
      return
    }
  } catch (error) {
    reader.detach()
    if (error instanceof ConnectionClosed) {
      client.destroy()
      // What libpq does with sslmode=require or stricter when the proxy declines TLS: it hangs up, and says "server
      // does not support SSL" on its side only.
      if (!started && declined.has(SSL_REQUEST_CODE)) settings.report({ outcome: 'refused', reason: CLIENT_WANTS_TLS })
      return
    }
    const refusal = asRefusal(error)
    client.end(errorResponse('FATAL', refusal.sqlstate, refusal.message, refusal.hint))
    settings.report({
      outcome: 'refused',
      ...(user ? { user } : {}),
      ...(database ? { database } : {}),
      code: refusal.sqlstate,
      reason: refusal.message,
    })
  }
}

/**
 * The server's side of the login: answers its cleartext password request with `password()`, passes
 * NegotiateProtocolVersion and notices on to the client, until AuthenticationOk or an ErrorResponse.
 */
async function login(
  upstream: { socket: Socket; reader: FrameReader },
  password: () => Promise<string>,
  forward: (message: Buffer) => void = () => {},
): Promise<{ kind: 'ok' | 'refused'; message: Buffer }> {
  for (;;) {
    const message = await upstream.reader.readMessage().catch((error: unknown) => {
      throw error instanceof ConnectionClosed
        ? new Refusal('08006', 'the server closed the connection during login')
        : error
    })
    if (message[0] === AUTHENTICATION) {
      const method = message.readUInt32BE(5)
      if (method === AUTH_CLEARTEXT_PASSWORD) {
        upstream.socket.write(serialize.password(await password()))
        continue
      }
      if (method === AUTH_OK) return { kind: 'ok', message }
      upstream.socket.destroy()
      throw new Refusal(
        '28000',
        `the server asked for ${authenticationMethods[method] ?? `method ${method}`} authentication; the pg-entra proxy answers only a cleartext password request with an Entra token`,
        'point the proxy at a server with Microsoft Entra authentication (Azure Database for PostgreSQL)',
      )
    }
    if (message[0] === ERROR_RESPONSE) return { kind: 'refused', message }
    forward(message)
  }
}

const CLIENT_WANTS_TLS =
  'the client hung up when the proxy declined TLS: it requires TLS (sslmode=require or stricter, perhaps PGSSLMODE); ' +
  'connect to the proxy with sslmode=disable or prefer (the proxy itself speaks verified TLS to the server)'

/** The start-up packet, after SSLRequest and GSSENCRequest are declined (each recorded in `negotiated`). */
async function readStartup(
  client: Socket,
  reader: FrameReader,
  negotiated: Set<number>,
): Promise<{ kind: 'startup' | 'cancel'; packet: Buffer }> {
  for (;;) {
    const packet = await reader.readStartupPacket()
    const code = packet.readUInt32BE(4)
    // Each of SSLRequest and GSSENCRequest once, as PostgreSQL takes them; a repeat falls through to the version check.
    if ((code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) && !negotiated.has(code)) {
      negotiated.add(code)
      // Loopback only (or a socket file): the client speaks in clear to the proxy, the proxy in TLS to the server.
      if (reader.buffered > 0) throw new Refusal('08P01', 'received unencrypted data after an SSL request')
      client.write('N')
      continue
    }
    if (code === CANCEL_REQUEST_CODE) return { kind: 'cancel', packet }
    if (code >> 16 !== 3) {
      throw new Refusal('0A000', `unsupported frontend protocol ${code >> 16}.${code & 0xffff}`)
    }
    return { kind: 'startup', packet }
  }
}

async function checkLocalPassword(
  client: Socket,
  reader: FrameReader,
  expected: string,
  user: string | undefined,
): Promise<void> {
  client.write(AuthenticationCleartextPassword)
  const message = await reader.readMessage()
  if (message[0] !== PASSWORD_MESSAGE) throw new Refusal('08P01', 'expected a password message')
  const given = message.subarray(5, message[message.length - 1] === 0 ? message.length - 1 : message.length)
  if (!matchesLocalPassword(given, expected)) {
    throw new Refusal(
      '28P01',
      `password authentication failed for user "${user ?? ''}"`,
      "give the proxy's local password (the one in --local-password-file or PG_ENTRA_PROXY_PASSWORD)",
    )
  }
}

async function open(settings: SessionSettings) {
  try {
    const upstream = await openUpstream(settings.target)
    settings.track(upstream.socket)
    return upstream
  } catch (error) {
    throw asRefusal(error, '08001')
  }
}

async function tokenOf(auth: EntraAuth): Promise<string> {
  try {
    return await auth.password()
  } catch (error) {
    throw asRefusal(error, '28000')
  }
}

async function principalOf(auth: EntraAuth): Promise<string> {
  try {
    return await auth.principal()
  } catch (error) {
    throw asRefusal(error, '28000')
  }
}

/** A PgEntraError becomes FATAL `sqlstate` with its code, message and hint: never a token, by construction. */
function asRefusal(error: unknown, sqlstate = '08006'): Refusal {
  if (error instanceof Refusal) return error
  if (isPgEntraError(error)) return new Refusal(sqlstate, `pg-entra proxy: ${error.code}: ${error.message}`, error.hint)
  const message = error instanceof Error ? error.message : String(error)
  return new Refusal(sqlstate, `pg-entra proxy: ${message}`)
}

/** From the server's AuthenticationOk on: bytes both ways, unparsed; either side closing closes the other. */
function relay(client: Socket, fromClient: Buffer, server: Socket, authenticationOk: Buffer, fromServer: Buffer): void {
  client.write(authenticationOk)
  if (fromServer.length > 0) client.write(fromServer)
  if (fromClient.length > 0) server.write(fromClient)
  client.pipe(server)
  server.pipe(client)
  const closeOther = (other: Socket) => () => {
    if (!other.destroyed) other.end()
    setTimeout(() => other.destroy(), 5_000).unref()
  }
  client.once('close', closeOther(server))
  server.once('close', closeOther(client))
}
