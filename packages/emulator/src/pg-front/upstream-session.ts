// Opens the real session on the upstream over its unix socket (trust) with the client's own StartupMessage, so that
// protocol version and parameters pass through unchanged, and collects what the upstream sends up to
// ReadyForQuery (ParameterStatus, BackendKeyData, NegotiateProtocolVersion, notices) to relay to the client.
import net from 'node:net'
import { join } from 'node:path'
import {
  AUTHENTICATION,
  AuthenticationOk,
  ConnectionClosed,
  ERROR_RESPONSE,
  FrameReader,
  READY_FOR_QUERY,
} from './wire.js'

const MAX_UPSTREAM_MESSAGE = 1 << 20

export type UpstreamSession = { ok: true; socket: net.Socket; greeting: Buffer } | { ok: false; errorResponse: Buffer }

export function upstreamSocketPath(socketDir: string, port: number): string {
  return join(socketDir, `.s.PGSQL.${port}`)
}

export async function openUpstreamSession(socketPath: string, startupPacket: Buffer): Promise<UpstreamSession> {
  const socket = net.connect(socketPath)
  socket.setNoDelay(true)
  const reader = new FrameReader(socket)
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    socket.write(startupPacket)
    const greeting: Buffer[] = []
    for (;;) {
      const message = await reader.readMessage(MAX_UPSTREAM_MESSAGE)
      const type = message[0]
      if (type === AUTHENTICATION) {
        const method = message.readUInt32BE(5)
        if (method !== 0) {
          throw new Error(`the upstream asked for authentication method ${method}; it must trust its unix socket`)
        }
        greeting.push(AuthenticationOk)
      } else if (type === ERROR_RESPONSE) {
        reader.detach()
        socket.destroy()
        return { ok: false, errorResponse: Buffer.from(message) }
      } else {
        greeting.push(Buffer.from(message))
        if (type === READY_FOR_QUERY) {
          const rest = reader.detach()
          if (rest.length > 0) greeting.push(Buffer.from(rest))
          return { ok: true, socket, greeting: Buffer.concat(greeting) }
        }
      }
    }
  } catch (e) {
    reader.detach()
    socket.destroy()
    if (e instanceof ConnectionClosed) throw new Error('the upstream closed the connection during startup')
    throw e
  }
}

/** Forwards a CancelRequest as received; the client holds the upstream's own BackendKeyData. */
export function forwardCancelRequest(socketPath: string, packet: Buffer): void {
  const socket = net.connect(socketPath, () => socket.end(packet))
  socket.on('error', () => {})
  socket.setTimeout(5_000, () => socket.destroy())
}
