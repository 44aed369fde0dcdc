import { spawn } from 'node:child_process'
import { entraAuth } from '../../auth/entra-auth.js'
import { PgEntraError } from '../../errors/pg-entra-error.js'
import { createRoleSql, quoteLiteral } from '../../identity/role-statement.js'
import type { TokenIdentity } from '../../shared/identity.js'
import { credentialHelp, credentialOptions, entraOptionsFrom, parseCommandArgs } from '../args.js'
import type { Command } from '../command.js'
import { libpqHasRootCertificate, writeNodeRootCertificates } from '../root-certificates.js'

const help = `Usage: pg-entra psql [pg-entra options] [--] [psql arguments]

Runs psql with a fresh Entra token as its password (PGPASSWORD), the user derived from the token when none is
given (-U, a connection string or PGUSER), and sslmode=verify-full. pg-entra's own options come first; everything
from the first other argument (or after --) goes to psql unchanged. Without PGSSLROOTCERT or sslrootcert, psql
trusts the same public roots as Node (Azure's server certificates chain to them). psql's exit code is returned.

Options:
  --help                        show this help (psql's own: pg-entra psql -- --help)

${credentialHelp}

Examples:
  pg-entra psql -h myserver.postgres.database.azure.com -d orders
  pg-entra psql --managed-identity -- "host=myserver.postgres.database.azure.com dbname=orders" -c "select 1"
  PGHOST=myserver.postgres.database.azure.com pg-entra psql -U orders-api -c "select current_user"`

export const psqlCommand: Command = {
  name: 'psql',
  summary: 'run psql with a fresh token, the derived user and sslmode=verify-full',
  help,
  async run(args, { output, env }) {
    const [ours, psqlArgs] = splitArguments(args)
    const { values } = parseCommandArgs('psql', {
      args: ours,
      options: { ...credentialOptions, help: { type: 'boolean' } },
    })
    if (values.help) {
      output.line(help)
      return 0
    }
    if (psqlArgs.some((arg) => psqlInfoFlags.has(arg))) return (await runPsql(psqlArgs, env)).code
    refuseWeakSslMode(psqlArgs)
    const auth = entraAuth(entraOptionsFrom(values))
    const childEnv: Record<string, string | undefined> = { ...env }
    let identity: TokenIdentity | undefined
    try {
      childEnv.PGPASSWORD = (await auth.token()).token
      identity = await auth.identity().catch(() => undefined)
      if (!userGiven(psqlArgs, env)) childEnv.PGUSER = await auth.principal()
    } finally {
      await auth.close()
    }
    if (env.PGSSLMODE && env.PGSSLMODE !== 'verify-full')
      output.warn(`PGSSLMODE=${env.PGSSLMODE} replaced by verify-full`)
    childEnv.PGSSLMODE = 'verify-full'
    const removeRoots = rootCertificateFile(psqlArgs, childEnv)
    try {
      const { code, stderrStart } = await runPsql(psqlArgs, childEnv, { captureStderr: true })
      const hint = code === 2 ? refusalHint(stderrStart, identity) : undefined
      if (hint) output.hint(hint)
      return code
    } finally {
      removeRoots?.()
    }
  },
}

/** psql arguments that make it print and exit without connecting: no token needed. */
const psqlInfoFlags = new Set(['--help', '-?', '--version', '-V'])

const ownFlags = new Set([...Object.keys(credentialOptions), 'help'])
const ownStringFlags = new Set(
  Object.entries(credentialOptions)
    .filter(([, spec]) => spec.type === 'string')
    .map(([name]) => name),
)

/** pg-entra's options from the front of `args`, up to `--` or the first argument that is not one of them. */
export function splitArguments(args: string[]): [string[], string[]] {
  let index = 0
  while (index < args.length) {
    const arg = args[index]!
    if (arg === '--') return [args.slice(0, index), args.slice(index + 1)]
    const match = /^--([a-z-]+)(=.*)?$/.exec(arg)
    if (!match || !ownFlags.has(match[1]!)) break
    index += ownStringFlags.has(match[1]!) && match[2] === undefined ? 2 : 1
  }
  return [args.slice(0, index), args.slice(index)]
}

// psql short options that take a value (attached, as in -Ualice, or as the next argument).
const psqlValueLetters = new Set(['c', 'd', 'f', 'v', 'h', 'p', 'U', 'o', 'L', 'P', 'T', 'F', 'R'])
const psqlLongValueOptions = new Set([
  '--command',
  '--dbname',
  '--file',
  '--set',
  '--variable',
  '--host',
  '--port',
  '--username',
  '--output',
  '--log-file',
  '--pset',
  '--table-attr',
  '--field-separator',
  '--record-separator',
])

/** The values psql takes as a database name or connection string: -d, --dbname and positionals. */
function connectionArguments(args: string[]): { dbnames: string[]; positionals: string[]; usernameFlag: boolean } {
  const dbnames: string[] = []
  const positionals: string[] = []
  let usernameFlag = false
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!
    if (arg.startsWith('--username')) usernameFlag = true
    if (psqlLongValueOptions.has(arg)) {
      const value = args[++index]
      if (arg === '--dbname' && value !== undefined) dbnames.push(value)
    } else if (arg.startsWith('--dbname=')) dbnames.push(arg.slice('--dbname='.length))
    else if (/^-[a-zA-Z]/.test(arg)) {
      // A cluster of short flags (-tAc): the first letter that takes a value takes the rest, or the next argument.
      const at = [...arg.slice(1)].findIndex((letter) => psqlValueLetters.has(letter))
      if (at === -1) continue
      const letter = arg[at + 1]!
      if (letter === 'U') usernameFlag = true
      const value = at + 2 < arg.length ? arg.slice(at + 2) : args[++index]
      if (letter === 'd' && value !== undefined) dbnames.push(value)
    } else if (!arg.startsWith('-')) positionals.push(arg)
  }
  return { dbnames, positionals, usernameFlag }
}

const isConnectionString = (value: string) => value.includes('=') || /^postgres(ql)?:\/\//.test(value)

function connectionStrings(args: string[]): string[] {
  const { dbnames, positionals } = connectionArguments(args)
  return [...dbnames, ...positionals.slice(0, 1)].filter(isConnectionString)
}

function userGiven(args: string[], env: Record<string, string | undefined>): boolean {
  if (env.PGUSER) return true
  const { usernameFlag, positionals } = connectionArguments(args)
  if (usernameFlag || positionals.length >= 2) return true
  return connectionStrings(args).some((value) =>
    value.includes('://') ? /^postgres(ql)?:\/\/[^/@]+@/.test(value) : /(^|\s)user\s*=/.test(value),
  )
}

function refuseWeakSslMode(args: string[]): void {
  for (const value of connectionStrings(args)) {
    const mode = /sslmode=([a-z-]+)/.exec(value)?.[1]
    if (mode && mode !== 'verify-full') {
      throw new PgEntraError('TLS_REQUIRED', `sslmode=${mode} would let the token travel without a verified server`, {
        hint: 'remove sslmode from the connection string: pg-entra psql sets sslmode=verify-full',
      })
    }
  }
}

/** Without any CA for libpq's verify-full, psql gets the public roots Node trusts, in a file removed afterwards. */
function rootCertificateFile(args: string[], env: Record<string, string | undefined>): (() => void) | undefined {
  if (env.PGSSLROOTCERT || connectionStrings(args).some((value) => value.includes('sslrootcert'))) return undefined
  if (libpqHasRootCertificate()) return undefined
  const roots = writeNodeRootCertificates('pg-entra-psql-')
  env.PGSSLROOTCERT = roots.file
  return roots.remove
}

/** How much of psql's stderr is kept to recognise a refused login (it comes first; a session may print far more). */
const STDERR_KEPT = 8_192

/**
 * Runs psql, its stdin and stdout the terminal's. With `captureStderr`, stderr is passed through as it comes and its
 * start kept, so that a refused login can be explained afterwards.
 */
function runPsql(
  args: string[],
  env: Record<string, string | undefined>,
  { captureStderr = false } = {},
): Promise<{ code: number; stderrStart: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(env.PG_ENTRA_PSQL || 'psql', args, {
      stdio: captureStderr ? ['inherit', 'inherit', 'pipe'] : 'inherit',
      env,
    })
    let stderrStart = ''
    child.stderr?.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk)
      if (stderrStart.length < STDERR_KEPT)
        stderrStart += chunk.toString('utf8').slice(0, STDERR_KEPT - stderrStart.length)
    })
    // psql handles Ctrl-C itself (it cancels the running query); this process only waits for it.
    const ignore = () => {}
    process.on('SIGINT', ignore)
    child.once('error', (error: NodeJS.ErrnoException) => {
      process.removeListener('SIGINT', ignore)
      if (error.code !== 'ENOENT') return reject(error)
      reject(
        new PgEntraError('MISSING_DEPENDENCY', 'psql was not found on the PATH', {
          hint: 'install the PostgreSQL client (apt-get install postgresql-client, brew install libpq), or set PG_ENTRA_PSQL to its path',
        }),
      )
    })
    child.once('close', (code, signal) => {
      process.removeListener('SIGINT', ignore)
      resolve({ code: code ?? 128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1), stderrStart })
    })
  })
}

/**
 * What to do after psql's login was refused with the token (exit code 2 and a FATAL password or token refusal):
 * the statement that creates the role for this principal, as `pg-entra check` gives it. Undefined for other failures.
 */
export function refusalHint(stderr: string, identity: TokenIdentity | undefined): string | undefined {
  const refused = /FATAL:\s+password authentication failed for user "([^"]+)"/.exec(stderr)
  const tokenRefused = /FATAL:.*(access token|AAD_AUTH_TOKENTYPE)/.exec(stderr)
  if (!refused && !tokenRefused) return undefined
  const role = refused?.[1]
  if (!role) return 'the server refused the token; pg-entra check runs every step and says which one fails'
  const statement =
    (identity && createRoleSql(identity, role)) ??
    `select * from pgaadauth_create_principal(${quoteLiteral(role)}, false, false);`
  const principal = identity
    ? `${identity.kind}${identity.upn ? ` ${identity.upn}` : ''}${identity.objectId ? ` oid ${identity.objectId}` : ''}`
    : 'unknown'
  return (
    `the server refused the token for role "${role}" (token principal: ${principal}). If the role does not exist, an ` +
    `Entra admin connected to the postgres database creates it for this principal: ${statement} If it exists, it is ` +
    `mapped to another principal: connect as the role of this one (pg-entra whoami). pg-entra check --user ${role} ` +
    'runs every step.'
  )
}
