// The few pieces of the PostgreSQL wire protocol the proxy reads or writes during start-up. After the server's
// AuthenticationOk the proxy relays bytes and parses nothing.
import type { Socket } from 'node:net'

export const SSL_REQUEST_CODE = 80877103
export const GSSENC_REQUEST_CODE = 80877104
export const CANCEL_REQUEST_CODE = 80877102
/** PostgreSQL's own limit for a startup packet. */
export const MAX_STARTUP_PACKET_LENGTH = 10_000
/** Entra tokens are a few kB; PostgreSQL allows authentication messages up to 64 kB. */
export const MAX_STARTUP_PHASE_MESSAGE_LENGTH = 65_536

export const AUTHENTICATION = 0x52 // 'R'
export const ERROR_RESPONSE = 0x45 // 'E'
export const PASSWORD_MESSAGE = 0x70 // 'p'
export const AUTH_OK = 0
export const AUTH_CLEARTEXT_PASSWORD = 3

export const AuthenticationCleartextPassword = Buffer.from([AUTHENTICATION, 0, 0, 0, 8, 0, 0, 0, 3])

export class ConnectionClosed extends Error {
  constructor(who: string) {
    super(`${who} closed the connection`)
    this.name = 'ConnectionClosed'
  }
}

export class ProtocolViolation extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ProtocolViolation'
  }
}

/** An ErrorResponse with severity, SQLSTATE and message (and a hint when given). */
export function errorResponse(severity: 'FATAL' | 'ERROR', code: string, message: string, hint?: string): Buffer {
  const fields = `S${severity}\0V${severity}\0C${code}\0M${message}\0${hint ? `H${hint}\0` : ''}`
  return errorFrame(Buffer.from(fields, 'utf8'))
}

/** An ErrorResponse of these fields (each a type byte and a NUL-terminated value), its terminator added. */
function errorFrame(fields: Buffer): Buffer {
  const head = Buffer.alloc(5)
  head[0] = ERROR_RESPONSE
  head.writeUInt32BE(4 + fields.length + 1, 1)
  return Buffer.concat([head, fields, Buffer.from([0])])
}

/** The same ErrorResponse with a hint added, when it has none: the server's own fields are kept as they came. */
export function withHint(message: Buffer, hint: string): Buffer {
  const fields = message.subarray(5, message.length - 1) // without the terminating NUL
  if (
    fields
      .toString('utf8')
      .split('\0')
      .some((field) => field.startsWith('H'))
  )
    return message
  return errorFrame(Buffer.concat([fields, Buffer.from(`H${hint}\0`, 'utf8')]))
}

/** The SQLSTATE and message of an ErrorResponse, for the connection log. */
export function errorResponseFields(message: Buffer): { code: string; message: string } {
  const fields = message.subarray(5).toString('utf8').split('\0')
  const field = (tag: string) => fields.find((f) => f.startsWith(tag))?.slice(1)
  return { code: field('C') ?? 'XX000', message: field('M') ?? 'unknown error' }
}

/** StartupMessage parameters (after the length and the protocol version). */
export function parseStartupParameters(packet: Buffer): Map<string, string> {
  const body = packet.subarray(8)
  if (body.length === 0 || body[body.length - 1] !== 0) throw new ProtocolViolation('invalid startup packet layout')
  const parts = body
    .subarray(0, body.length - 1)
    .toString('utf8')
    .split('\0')
  if (parts.length % 2 !== 1 || parts[parts.length - 1] !== '') {
    throw new ProtocolViolation('invalid startup packet layout')
  }
  const params = new Map<string, string>()
  for (let i = 0; i + 1 < parts.length; i += 2) params.set(parts[i]!, parts[i + 1]!)
  return params
}

/** A StartupMessage with the client's own protocol version and the parameters given, in their order. */
export function startupMessage(protocolVersion: number, params: Map<string, string>): Buffer {
  const body = Buffer.from(`${[...params].map(([name, value]) => `${name}\0${value}\0`).join('')}\0`, 'utf8')
  const head = Buffer.alloc(8)
  head.writeUInt32BE(8 + body.length, 0)
  head.writeUInt32BE(protocolVersion, 4)
  return Buffer.concat([head, body])
}

/**
 * Frames start-up packets (untyped) and messages (typed) off a socket until detached: one reader per socket, one
 * read at a time. `detach()` hands back what arrived beyond the last message read, for the relay.
 */
export class FrameReader {
  private buffer: Buffer = Buffer.alloc(0)
  private wake: (() => void) | undefined
  private closed = false

  constructor(
    private readonly socket: Socket,
    private readonly who: string,
  ) {
    socket.on('data', this.onData)
    socket.on('end', this.onClose)
    socket.on('close', this.onClose)
    socket.on('error', this.onClose)
  }

  get buffered(): number {
    return this.buffer.length
  }

  /** Int32 length (including itself), Int32 code, body: the client's first packets. */
  readStartupPacket(): Promise<Buffer> {
    return this.read(0, 8, MAX_STARTUP_PACKET_LENGTH)
  }

  /** Byte1 type, Int32 length (including itself), body; returned whole. */
  readMessage(): Promise<Buffer> {
    return this.read(1, 4, MAX_STARTUP_PHASE_MESSAGE_LENGTH)
  }

  /** One byte: the server's answer to an SSLRequest. */
  async readByte(): Promise<number> {
    await this.waitFor(1)
    const byte = this.buffer[0]!
    this.buffer = this.buffer.subarray(1)
    return byte
  }

  detach(): Buffer {
    this.socket.off('data', this.onData)
    this.socket.off('end', this.onClose)
    this.socket.off('close', this.onClose)
    this.socket.off('error', this.onClose)
    const rest = this.buffer
    this.buffer = Buffer.alloc(0)
    return rest
  }

  private async read(lengthOffset: number, minLength: number, maxLength: number): Promise<Buffer> {
    await this.waitFor(lengthOffset + 4)
    const length = this.buffer.readUInt32BE(lengthOffset)
    if (length < minLength || length > maxLength) throw new ProtocolViolation(`invalid message length ${length}`)
    const total = lengthOffset + length
    await this.waitFor(total)
    const message = this.buffer.subarray(0, total)
    this.buffer = this.buffer.subarray(total)
    return message
  }

  private async waitFor(bytes: number): Promise<void> {
    while (this.buffer.length < bytes) {
      if (this.closed) throw new ConnectionClosed(this.who)
      await new Promise<void>((resolve) => {
        this.wake = resolve
      })
    }
  }

  private readonly onData = (chunk: Buffer) => {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk])
    this.notify()
  }

  private readonly onClose = () => {
    this.closed = true
    this.notify()
  }

  private notify() {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }
}
