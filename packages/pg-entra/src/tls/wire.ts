// The guarantee behind every configuration check: a token is handed out only to a socket that is TLS, whose chain
// verified, and whose certificate names the host that was connected to (an IP host checked as an IP). It runs at the
// moment the server asks for the password, so it holds whatever options an application or an ORM merged over ours.
import { isIP } from 'node:net'
import { checkServerIdentity, type PeerCertificate } from 'node:tls'
import { PgEntraError } from '../errors/pg-entra-error.js'

/** The slice of a `tls.TLSSocket` the check reads; a plain `net.Socket` has none of it. */
interface TlsSocketLike {
  encrypted?: unknown
  authorized?: unknown
  authorizationError?: unknown
  getPeerCertificate?(detailed?: boolean): PeerCertificate | Record<string, never>
  getProtocol?(): string | null
  once?(event: 'secureConnect', listener: () => void): unknown
}

export type WireProblem =
  | { kind: 'no-tls' }
  | { kind: 'chain-unverified'; reason: string }
  | { kind: 'host-mismatch'; reason: string }

/** Why `socket` may not carry a token to `host`, or undefined when it may. */
export function wireProblem(socket: unknown, host: string): WireProblem | undefined {
  const tls = (socket ?? {}) as TlsSocketLike
  if (tls.encrypted !== true || typeof tls.getPeerCertificate !== 'function') return { kind: 'no-tls' }
  if (tls.authorized !== true) {
    return { kind: 'chain-unverified', reason: String(tls.authorizationError ?? 'not verified') }
  }
  const early = earlyVerdicts.get(tls)
  if (early && early.host === host && tls.getProtocol?.() === 'TLSv1.3') return early.problem
  return certificateProblem(tls, host)
}

// Verdicts reached right after a handshake (see checkWireWhenSecure), by socket. Only a TLS 1.3 socket's is used
// later: TLS 1.2 can renegotiate, and a renegotiation can bring another certificate.
const earlyVerdicts = new WeakMap<object, { host: string; problem: WireProblem | undefined }>()

/**
 * Reaches the certificate part of the verdict on `socket` for `host` in the turn after its handshake, while the
 * server reads the startup message, so that the check when the token leaves costs the login no time. The check then
 * is still made, on that socket, by {@link wireProblem}; this only has its slowest part (reading the certificate,
 * about 80 µs) done earlier.
 */
export function checkWireWhenSecure(socket: unknown, host: string): void {
  const tls = socket as TlsSocketLike | undefined
  if (typeof tls?.once !== 'function' || typeof tls.getPeerCertificate !== 'function') return
  tls.once('secureConnect', () => {
    setImmediate(() => {
      if (tls.encrypted !== true || tls.authorized !== true || earlyVerdicts.has(tls)) return
      earlyVerdicts.set(tls, { host, problem: certificateProblem(tls, host) })
    })
  })
}

function certificateProblem(tls: TlsSocketLike, host: string): WireProblem | undefined {
  const certificate = tls.getPeerCertificate?.()
  if (!certificate || Object.keys(certificate).length === 0) {
    return { kind: 'chain-unverified', reason: 'the server presented no certificate' }
  }
  // Node's own check during the handshake can be replaced (checkServerIdentity) or aimed elsewhere (servername):
  // this one is ours, against the host the socket was opened to.
  const mismatch = checkServerIdentity(bareHost(host), certificate as PeerCertificate)
  if (mismatch) return { kind: 'host-mismatch', reason: mismatch.message }
  return undefined
}

const bareHost = (host: string): string => (host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host)

/**
 * The options in a driver's TLS configuration that weaken verification, by the name an application would look for:
 * `ssl: false`, `ssl.rejectUnauthorized: false`, `ssl.checkServerIdentity`, `ssl.servername`. Empty when none is seen.
 */
export function weakeningOptions(ssl: unknown, host: string): string[] {
  if (ssl === false || ssl === undefined || ssl === null || ssl === 'disable') return ['ssl: false']
  if (typeof ssl !== 'object') return []
  const options = ssl as { rejectUnauthorized?: unknown; checkServerIdentity?: unknown; servername?: unknown }
  const found: string[] = []
  if (options.rejectUnauthorized === false) found.push('ssl.rejectUnauthorized: false')
  if (typeof options.checkServerIdentity === 'function')
    found.push('ssl.checkServerIdentity (sslmode=verify-ca sets it)')
  if (typeof options.servername === 'string' && options.servername !== bareHost(host)) found.push('ssl.servername')
  return found
}

const OPT_OUT = 'entra: { allowUnverifiedTls: true }'

/**
 * TLS_REQUIRED for a token that was about to leave over `problem`, naming what weakened the connection when the
 * driver's configuration shows it. The token was not sent.
 */
export function refusedAtTheWire(
  problem: WireProblem,
  where: { host: string; port?: number | undefined },
  weakenedBy: string[] = [],
): PgEntraError {
  const target = where.port === undefined ? where.host : `${where.host}:${where.port}`
  const what =
    problem.kind === 'no-tls'
      ? 'the connection is not TLS'
      : problem.kind === 'chain-unverified'
        ? `the server's certificate chain was not verified (${problem.reason})`
        : `the server's certificate does not name ${isIP(bareHost(where.host)) ? 'the IP address' : 'the host'} connected to (${problem.reason})`
  const cause = weakenedBy.length > 0 ? `; weakened by ${weakenedBy.join(', ')}` : ''
  return new PgEntraError(
    'TLS_REQUIRED',
    `refusing to send the Entra token to ${target}: ${what}${cause}; the token was not sent`,
    {
      hint:
        `the token is the password: it goes only over TLS verified for the host connected to. ${
          weakenedBy.length > 0 ? `Remove ${weakenedBy.join(' and ')}` : 'Turn TLS verification on'
        } (an option merged by an ORM counts too: TypeORM extra, MikroORM driverOptions, Sequelize hooks/dialectOptions); ` +
        `trust a private CA with ssl: { ca } or sslrootcert; connect with a host name the certificate names; ` +
        `or opt out explicitly with ${OPT_OUT}`,
      details: { option: weakenedBy[0] ?? 'ssl', host: where.host, reason: problem.kind },
    },
  )
}
