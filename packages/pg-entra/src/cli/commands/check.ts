import type { ConnectionOptions } from 'node:tls'
import { entraAuth } from '../../auth/entra-auth.js'
import type { EntraAuth, TokenIdentity } from '../../auth/types.js'
import { parseConnectionString } from '../../config/connection-string.js'
import { readPgEnv } from '../../config/env.js'
import { isPgEntraError, PgEntraError } from '../../errors/pg-entra-error.js'
import { describePlan, loadAzureIdentity, planCredential } from '../../identity/credential.js'
import { fingerprint } from '../../shared/fingerprint.js'
import { TRUST_THE_ROOT } from '../../tls/pg-ssl.js'
import { credentialHelp, credentialOptions, entraOptionsFrom, parseCommandArgs } from '../args.js'
import type { Command } from '../command.js'
import { createRoleSql, kindLabels } from '../identity-view.js'
import { errorJson, formatDuration, formatTime, type Output } from '../output.js'
import { openTcp, probeTls, resolveHost } from '../probes.js'

const help = `Usage: pg-entra check [options] [connection string]

Diagnoses an Entra connection step by step, one line each: options, credential, token, claims (against the user
name), dns, tcp, tls (chain and host name), authentication, query (select current_user), server version. A failed
step prints what went wrong and a hint; the steps after it are skipped. The connection comes from the connection
string (a postgres:// URL or libpq key=value pairs) and the PG* variables, as in the library.

Options:
  --user <role>                 the role to connect as (default: from the connection string, PGUSER or the token)
  --timeout <seconds>           for each network step (default 10)
  --json                        print {"ok", "steps": [{"step", "status", "detail", "code", "hint"}]}
  --help                        show this help

${credentialHelp}

Exit code: 0 when every step passed (warnings allowed), 1 when one failed.

Examples:
  pg-entra check "postgresql://me%40contoso.com@myserver.postgres.database.azure.com/postgres"
  PGHOST=myserver.postgres.database.azure.com pg-entra check --user orders-api
  pg-entra check --json "host=127.0.0.1 port=5432 dbname=postgres sslrootcert=./emulator-ca.pem"`

export type StepStatus = 'pass' | 'warn' | 'fail' | 'skip'

export interface StepReport {
  step: string
  status: StepStatus
  detail: string
  code?: string
  hint?: string
}

/** What a step returns: its detail line, or a warning with a hint. */
export type StepOutcome = string | { warn: string; hint: string }

/** Thrown by a step for a failure that is not a PgEntraError: a message and what to do about it. */
export class StepFailure extends Error {
  constructor(
    message: string,
    readonly hint: string,
    readonly code?: string,
  ) {
    super(message)
  }
}

interface ResolvedTarget {
  host: string
  port: number
  database: string | undefined
  ssl: boolean | ConnectionOptions
}

type PgModule = typeof import('../../adapters/pg.js')

export const checkCommand: Command = {
  name: 'check',
  summary: 'diagnose a connection step by step',
  help,
  async run(args, { output, env }) {
    const { values, positionals } = parseCommandArgs('check', {
      args,
      allowPositionals: true,
      options: {
        ...credentialOptions,
        user: { type: 'string' },
        timeout: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean' },
      },
    })
    if (values.help) {
      output.line(help)
      return 0
    }
    const seconds = values.timeout === undefined ? 10 : Number(values.timeout)
    if (!Number.isFinite(seconds) || seconds <= 0) {
      // an argument error, as for every command: exit 2, not a failed step
      throw new PgEntraError('INVALID_OPTION', '--timeout must be a number of seconds above 0', {
        hint: 'e.g. --timeout 10',
      })
    }
    const timeoutMs = seconds * 1000
    const connectionString = positionals[0]
    const reports: StepReport[] = []
    const print = values.json ? () => {} : (report: StepReport) => printStep(output, report)

    let auth: EntraAuth | undefined
    let pgModule: PgModule | undefined
    let givenUser: string | undefined
    let user: string | undefined
    let target: ResolvedTarget | undefined
    let identity: TokenIdentity | undefined
    let client: InstanceType<PgModule['Client']> | undefined

    const steps: [string, () => Promise<StepOutcome>][] = [
      [
        'options',
        async () => {
          const entraOptions = entraOptionsFrom(values)
          auth = entraAuth(entraOptions)
          pgModule = await loadPgAdapter()
          const fields = { ...readPgEnv(env), ...(connectionString ? parseConnectionString(connectionString) : {}) }
          givenUser = values.user ?? fields.user
          // With a user given, nothing here touches the network; without one, a stand-in lets the library check the
          // rest now (TLS settings, files), and the user is derived from the token in the claims step.
          const resolved = await pgModule.resolvePgConfig({
            ...(connectionString ? { connectionString } : {}),
            user: givenUser ?? 'pg-entra-check',
            entra: auth,
          })
          target = {
            host: resolved.host ?? 'localhost',
            port: resolved.port ?? 5432,
            database: resolved.database,
            ssl: resolved.ssl,
          }
          const tls = target.ssl === true ? "verified TLS (Node's CAs)" : describeSsl(target.ssl)
          const who = givenUser ? `user ${givenUser}` : 'user from the token'
          return `${target.host}:${target.port}, database ${target.database ?? '(default)'}, ${who}, ${tls}`
        },
      ],
      [
        'credential',
        async () => {
          const plan = planCredential(entraOptionsFrom(values), env)
          if (plan.kind !== 'given') await loadAzureIdentity()
          const description = describePlan(plan)
          if (plan.kind === 'default') {
            return {
              warn: `${description}: no credential options or AZURE_* variables found`,
              hint: 'DefaultAzureCredential tries environment, workload identity, managed identity and developer tools in turn; set the options to say which identity you mean',
            }
          }
          return description
        },
      ],
      [
        'token',
        async () => {
          const token = await auth!.token()
          const left = token.expiresOnTimestamp - Date.now()
          return `expires ${formatTime(token.expiresOnTimestamp)} (in ${formatDuration(left)}), scope ${auth!.scope}, sha256 ${fingerprint(token.token)}`
        },
      ],
      [
        'claims',
        async () => {
          identity = await auth!.identity()
          const name = identity.databaseUser ?? (identity.appId ? `app ${identity.appId}` : undefined)
          const who = [kindLabels[identity.kind], name, `oid ${identity.objectId ?? '?'}`].filter(Boolean).join(' ')
          if (!givenUser) {
            user = await auth!.principal()
            return `${who}; connects as "${user}" (derived from the token)`
          }
          user = givenUser
          return compareUser(identity, givenUser, who)
        },
      ],
      [
        'dns',
        async () => {
          const { addresses } = await withTimeout(resolveHost(target!.host), timeoutMs, 'DNS lookup')
          return `${target!.host} -> ${addresses.join(', ')}`
        },
      ],
      [
        'tcp',
        async () => {
          const started = Date.now()
          const socket = await openTcp(target!.host, target!.port, timeoutMs)
          socket.destroy()
          return `connected to ${target!.host}:${target!.port} in ${Date.now() - started} ms`
        },
      ],
      ['tls', async () => checkTls(target!, timeoutMs)],
      [
        'authentication',
        async () => {
          client = new pgModule!.Client({
            ...(connectionString ? { connectionString } : {}),
            user: user!,
            entra: auth!,
            connectionTimeoutMillis: timeoutMs,
          })
          client.on('error', () => {})
          await client.connect()
          return `accepted the token for "${user}"`
        },
      ],
      [
        'query',
        async () => {
          const { rows } = await client!.query<{ current_user: string }>('select current_user')
          const current = rows[0]!.current_user
          if (current !== user) {
            throw new StepFailure(
              `current_user is "${current}", not "${user}"`,
              'the server mapped the login to another role; check the role mapping',
            )
          }
          return `current_user = ${current}`
        },
      ],
      [
        'server version',
        async () => {
          const { rows } = await client!.query<{ server_version: string }>('show server_version')
          return `PostgreSQL ${rows[0]!.server_version}`
        },
      ],
    ]

    try {
      let failed = false
      for (const [step, run] of steps) {
        const report = failed ? { step, status: 'skip' as const, detail: 'skipped' } : await runStep(step, run)
        if (report.status === 'fail') failed = true
        reports.push(report)
        print(report)
      }
      if (values.json) output.json({ ok: !failed, steps: reports })
      else output.line(failed ? output.out.red('\nFAILED') : output.out.green('\nall checks passed'))
      return failed ? 1 : 0
    } finally {
      await client?.end().catch(() => {})
      await auth?.close()
    }
  },
}

async function runStep(step: string, run: () => Promise<StepOutcome>): Promise<StepReport> {
  try {
    const outcome = await run()
    if (typeof outcome === 'string') return { step, status: 'pass', detail: outcome }
    return { step, status: 'warn', detail: outcome.warn, hint: outcome.hint }
  } catch (error) {
    return { step, status: 'fail', ...failureOf(step, error) }
  }
}

function failureOf(step: string, error: unknown): Omit<StepReport, 'step' | 'status'> {
  if (isPgEntraError(error)) {
    const { code, message, hint } = errorJson(error)
    return { code, detail: message, ...(hint ? { hint } : {}) }
  }
  if (error instanceof StepFailure)
    return { detail: error.message, hint: error.hint, ...(error.code ? { code: error.code } : {}) }
  const { code, message } = error as NodeJS.ErrnoException
  return { ...(code ? { code } : {}), detail: message, hint: networkHint(step, code) }
}

function networkHint(step: string, code: string | undefined): string {
  switch (code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'check the host name (Azure: <server>.postgres.database.azure.com); a private endpoint needs its private DNS zone linked'
    case 'ECONNREFUSED':
      return 'nothing listens there: check the host and port (Azure uses 5432, 6432 for PgBouncer)'
    case 'ETIMEDOUT':
      return "no answer: a firewall may drop the connection; on Azure allow your client's IP in the server's Networking page"
    case 'ECONNRESET':
      return 'the server closed the connection: check that host and port point at PostgreSQL'
    case 'NO_SSL_ANSWER':
      return 'something accepts TCP there but does not speak PostgreSQL: check the port (Azure uses 5432, 6432 for PgBouncer); a proxy or firewall may hold the connection'
    case '3D000':
      return 'the database does not exist: check dbname (Azure creates "postgres")'
    default:
      return step === 'authentication'
        ? 'the server refused the session after the token was accepted; read the message above'
        : `the ${step} step failed; read the message above`
  }
}

/** The claims step's verdict on `givenUser` for this identity; throws StepFailure when it cannot work. */
export function compareUser(identity: TokenIdentity, givenUser: string, who: string): StepOutcome {
  const derived = identity.databaseUser
  const groups = identity.groups.length
  const asGroup = `it works if "${givenUser}" is the role of one of the token's ${groups} group(s), as Azure's group login allows`
  if (identity.kind === 'user' && derived && derived.toLowerCase() !== givenUser.toLowerCase() && groups > 0) {
    return {
      warn: `${who}: the user "${givenUser}" is not the token's ${derived}; ${asGroup}`,
      hint: `a group role is made with select * from pgaadauth_create_principal('<group name>', false, false); otherwise use user=${derived}`,
    }
  }
  if (identity.kind === 'user' && derived && derived.toLowerCase() !== givenUser.toLowerCase()) {
    throw new StepFailure(
      `${who}: the user "${givenUser}" is not the token's ${derived}`,
      `a user connects as their UPN: use user=${derived}, or sign in as ${givenUser}`,
      'USER_MISMATCH',
    )
  }
  if (identity.kind === 'managedIdentity' && derived && derived !== givenUser) {
    return {
      warn: `${who}: the user "${givenUser}" is not the managed identity's name "${derived}"${groups > 0 ? `; ${asGroup}` : ''}`,
      hint: `this works ${groups > 0 ? 'if' : 'only if'} "${givenUser}" was created for object id ${identity.objectId}: ${createRoleSql(identity, givenUser)} Otherwise use user=${derived}`,
    }
  }
  if (identity.kind === 'servicePrincipal') {
    const orGroup = groups > 0 ? `, or to one of its ${groups} group(s)` : ''
    return `${who}; connects as "${givenUser}", which the server must map to this oid${orGroup}`
  }
  return `${who}; connects as "${givenUser}"`
}

async function loadPgAdapter(): Promise<PgModule> {
  try {
    return await import('../../adapters/pg.js')
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw cause
    throw new PgEntraError('MISSING_DEPENDENCY', 'pg is not installed (check connects with node-postgres)', {
      hint: 'npm install pg',
    })
  }
}

function describeSsl(ssl: boolean | ConnectionOptions): string {
  if (ssl === false) return 'no TLS'
  if (ssl === true) return "verified TLS (Node's CAs)"
  const parts = [ssl.ca ? 'CA from sslrootcert/ssl.ca' : "Node's CAs"]
  if (ssl.rejectUnauthorized === false) parts.push('certificate NOT verified')
  else if (ssl.checkServerIdentity) parts.push('host name not checked (verify-ca)')
  return `verified TLS (${parts.join(', ')})`
}

async function checkTls(target: ResolvedTarget, timeoutMs: number): Promise<StepOutcome> {
  if (target.ssl === false)
    return { warn: 'TLS is off (allowUnverifiedTls)', hint: 'the token travels in clear text: turn TLS on' }
  const ssl = target.ssl === true ? {} : target.ssl
  const result = await probeTls({
    host: target.host,
    port: target.port,
    ...(ssl.ca ? { ca: ssl.ca as string } : {}),
    ...(ssl.servername ? { servername: ssl.servername } : {}),
    timeoutMs,
  })
  if (!result.accepted) {
    throw new StepFailure(
      'the server refused TLS (it answered the SSLRequest with N)',
      'Azure always offers TLS: check that host and port point at the Azure server, not at a local PostgreSQL without ssl',
      'TLS_REFUSED',
    )
  }
  const certificate = `${result.protocol}, certificate ${result.subject ?? '?'} issued by ${result.issuer ?? '?'}`
  const verified = ssl.rejectUnauthorized !== false
  if (result.chainError && verified) {
    throw new StepFailure(
      `${certificate}: chain not trusted (${result.chainError})`,
      chainHint(result.chainError, ssl.ca),
      'TLS_CHAIN',
    )
  }
  const hostChecked = verified && !ssl.checkServerIdentity
  if (result.hostError && hostChecked) {
    throw new StepFailure(
      `${certificate}: ${result.hostError}`,
      'connect with a host name the certificate names (Azure: <server>.postgres.database.azure.com), not an IP or alias',
      'TLS_HOSTNAME',
    )
  }
  if (!verified)
    return {
      warn: `${certificate}; NOT verified`,
      hint: 'the token can be read by anyone in the middle: verify the certificate',
    }
  return `${certificate}; chain trusted${hostChecked ? `, host name ${target.host} matches` : ' (host name not checked: verify-ca)'}`
}

function chainHint(chainError: string, caGiven: unknown): string {
  if (!caGiven) {
    return "the certificate does not chain to a CA Node trusts: give the CA with sslrootcert=<file> (PGSSLROOTCERT), e.g. pg-entra-emulator's CA file"
  }
  if (chainError === 'UNABLE_TO_GET_ISSUER_CERT') return TRUST_THE_ROOT
  return 'the CA given (sslrootcert / ssl.ca) did not sign this certificate: give the CA that did'
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(Object.assign(new Error(`${what} took longer than ${ms} ms`), { code: 'ETIMEDOUT' })),
      ms,
    )
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

function printStep(output: Output, report: StepReport): void {
  const { green, red, yellow, dim } = output.out
  const paint = { pass: green, warn: yellow, fail: red, skip: dim }[report.status]
  const label = paint(report.status.toUpperCase().padEnd(5))
  const detail = report.code && report.status === 'fail' ? `${report.code}: ${report.detail}` : report.detail
  output.line(`${label} ${report.step.padEnd(15)} ${report.status === 'skip' ? dim(detail) : detail}`)
  if (report.hint) output.line(`${' '.repeat(22)}${dim('hint:')} ${report.hint}`)
}
