// PostgreSQL wire protocol pieces the front needs: startup-phase codes, a few backend messages, and a reader that
// frames untyped startup packets and typed messages off a socket with a size limit.
import type { Duplex } from 'node:stream'

export const SSL_REQUEST_CODE = 80877103
export const GSSENC_REQUEST_CODE = 80877104
export const CANCEL_REQUEST_CODE = 80877102
/** PostgreSQL's own limit for a startup packet */
export const MAX_STARTUP_PACKET_LENGTH = 10_000
/** PostgreSQL's limit for an authentication response; Entra tokens are a few kB */
export const MAX_PASSWORD_MESSAGE_LENGTH = 65_535

export const PASSWORD_MESSAGE = 0x70 // 'p'
export const AUTHENTICATION = 0x52 // 'R'
export const ERROR_RESPONSE = 0x45 // 'E'
export const READY_FOR_QUERY = 0x5a // 'Z'
/** the first byte of a TLS handshake record: PostgreSQL 17's direct TLS (sslnegotiation=direct) */
export const TLS_HANDSHAKE = 0x16

export const AuthenticationOk = Buffer.from([AUTHENTICATION, 0, 0, 0, 8, 0, 0, 0, 0])
export const AuthenticationCleartextPassword = Buffer.from([AUTHENTICATION, 0, 0, 0, 8, 0, 0, 0, 3])

/** A client broke the protocol; the front answers with FATAL `code` and closes. */
export class ProtocolViolation extends Error {
  readonly code: string
  constructor(message: string, code = '08P01') {
    super(message)
    this.name = 'ProtocolViolation'
    this.code = code
  }
}

export class ConnectionClosed extends Error {
  constructor() {
    super('connection closed')
    this.name = 'ConnectionClosed'
  }
}

export function ErrorResponse(severity: 'FATAL' | 'ERROR', code: string, message: string): Buffer {
  const fields = Buffer.from(`S${severity}\0V${severity}\0C${code}\0M${message}\0\0`, 'utf8')
  const head = Buffer.alloc(5)
  head[0] = ERROR_RESPONSE
  head.writeUInt32BE(4 + fields.length, 1)
  return Buffer.concat([head, fields])
}

/** The SQLSTATE (`C`) and message (`M`) fields of an ErrorResponse, for the front's events. */
export function errorResponseFields(message: Buffer): { code: string; message: string } {
  const fields = message.subarray(5).toString('utf8').split('\0')
  const field = (tag: string) => fields.find((f) => f.startsWith(tag))?.slice(1)
  return { code: field('C') ?? 'XX000', message: field('M') ?? 'unknown error' }
}

/** StartupMessage parameters; throws ProtocolViolation on a layout PostgreSQL would refuse. */
export function parseStartupParameters(packet: Buffer): Record<string, string> {
  const body = packet.subarray(8)
  if (body.length === 0 || body[body.length - 1] !== 0) {
    throw new ProtocolViolation('invalid startup packet layout: expected terminator as last byte')
  }
  const parts = body
    .subarray(0, body.length - 1)
    .toString('utf8')
    .split('\0')
  // parts: name, value, name, value, ..., '' (the empty name that ends the list)
  if (parts.length % 2 !== 1 || parts[parts.length - 1] !== '') {
    throw new ProtocolViolation('invalid startup packet layout: expected terminator as last byte')
  }
  const params: Record<string, string> = Object.create(null)
  for (let i = 0; i + 1 < parts.length; i += 2) params[parts[i]!] = parts[i + 1]!
  return params
}

/** Frames messages from a socket until detached. One reader per socket; one read at a time. */
export class FrameReader {
  private buffer: Buffer = Buffer.alloc(0)
  private wake: (() => void) | undefined
  private closed = false

  constructor(private readonly socket: Duplex) {
    socket.on('data', this.onData)
    socket.on('end', this.onClose)
    socket.on('close', this.onClose)
    socket.on('error', this.onClose)
  }

  get buffered(): number {
    return this.buffer.length
  }

  /** The first byte received, without consuming it. */
  async peekByte(): Promise<number> {
    while (this.buffer.length === 0) {
      if (this.closed) throw new ConnectionClosed()
      await new Promise<void>((resolve) => {
        this.wake = resolve
      })
    }
    return this.buffer[0]!
  }

  /** An untyped startup-phase packet (Int32 length including itself, then the body). */
  readStartupPacket(maxLength = MAX_STARTUP_PACKET_LENGTH): Promise<Buffer> {
    return this.read(0, 8, maxLength)
  }

  /** A typed message: Byte1 type, Int32 length including itself, body. Returned whole. */
  readMessage(maxLength: number): Promise<Buffer> {
    return this.read(1, 4, maxLength)
  }

  /** Stops reading; returns what was received but not yet read. */
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
    for (;;) {
      if (this.buffer.length >= lengthOffset + 4) {
        const length = this.buffer.readUInt32BE(lengthOffset)
        if (length < minLength || length > maxLength) {
          throw new ProtocolViolation(`invalid message length ${length}`)
        }
        const total = lengthOffset + length
        if (this.buffer.length >= total) {
          const message = this.buffer.subarray(0, total)
          this.buffer = this.buffer.subarray(total)
          return message
        }
      }
      if (this.closed) throw new ConnectionClosed()
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
