// node-postgres calls a password function as a method, `client.password(connectionParameters)`, once the server has
// asked for a password: `this` is the pg.Client and `this.connection.stream` the socket the password will be written
// to. That makes the password function the one place every pg-based client (pg, pg-pool, Knex, Sequelize, TypeORM,
// MikroORM, pg-promise, Kysely, Prisma, Drizzle, and Slonik through slonikPassword) passes through with its socket in
// hand.
import { checkWireWhenSecure, refusedAtTheWire, weakeningOptions, wireProblem } from './wire.js'

/** The slice of a pg.Client seen from its password function (public fields only). */
export interface PgCaller {
  connection: {
    stream: unknown
    once(event: 'errorMessage', listener: (message: { code?: unknown }) => void): unknown
    once(event: 'sslconnect', listener: () => void): unknown
  }
  host?: unknown
  port?: unknown
  connectionParameters?: { host?: unknown; port?: unknown; ssl?: unknown }
}

/** `self` as a pg.Client calling its password function, or undefined for any other caller. */
export function pgCallerOf(self: unknown): PgCaller | undefined {
  if (typeof self !== 'object' || self === null) return undefined
  const connection = (self as { connection?: unknown }).connection
  if (typeof connection !== 'object' || connection === null || !('stream' in connection)) return undefined
  if (typeof (connection as { once?: unknown }).once !== 'function') return undefined
  return self as PgCaller
}

function hostOf(caller: PgCaller): string {
  const host = caller.connectionParameters?.host ?? caller.host
  return typeof host === 'string' && host !== '' ? host : 'localhost'
}

/**
 * Has the slow part of the wire check of `client`'s socket done right after its TLS handshake (pg emits `sslconnect`
 * once it has made the TLS socket), for clients pg-entra constructs itself. The check is still made at the password.
 */
export function checkPgWireEarly(client: unknown): void {
  const caller = pgCallerOf(client)
  if (!caller) return
  const { connection } = caller
  connection.once('sslconnect', () => checkWireWhenSecure(connection.stream, hostOf(caller)))
}

/** Throws TLS_REQUIRED unless the pg client's socket is verified TLS for the host it connected to. */
export function assertPgCallerVerified(caller: PgCaller): void {
  const host = hostOf(caller)
  const problem = wireProblem(caller.connection.stream, host)
  if (!problem) return
  const port = caller.connectionParameters?.port ?? caller.port
  throw refusedAtTheWire(
    problem,
    { host, port: typeof port === 'number' ? port : undefined },
    weakeningOptions(caller.connectionParameters?.ssl, host),
  )
}

const AUTH_REFUSED = new Set(['28P01', '28000'])
/** The errors pg reported for logins refused after a token was handed out (pg rejects connect with this object). */
const refusalsOfTokens = new WeakSet<object>()

/**
 * Calls `onRefused` if the server answers this login with 28P01/28000, so that a token the server refused is not
 * handed to the next connection (whichever client opens it: ORMs with their own pools included).
 */
export function watchForRefusal(caller: PgCaller, onRefused: (sqlState: string) => void): void {
  caller.connection.once('errorMessage', (message) => {
    if (typeof message?.code !== 'string' || !AUTH_REFUSED.has(message.code)) return
    refusalsOfTokens.add(message)
    onRefused(message.code)
  })
}

/** Whether `error` is the server's refusal of a login that carried a token (not, say, a refusal before any password). */
export function isRefusalOfToken(error: unknown): boolean {
  return typeof error === 'object' && error !== null && refusalsOfTokens.has(error)
}

/**
 * Closes the socket of a login that will get no password (the token was refused at the wire, or none could be had):
 * pg reports the error but leaves the socket open, and the server would wait for the password until its timeout.
 */
export function abandonLogin(caller: PgCaller): void {
  ;(caller.connection.stream as { destroy?: () => void } | undefined)?.destroy?.()
}
