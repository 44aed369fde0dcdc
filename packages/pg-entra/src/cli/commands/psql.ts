import { spawn } from 'node:child_process'
import { entraAuth } from '../../auth/entra-auth.js'
import { PgEntraError } from '../../errors/pg-entra-error.js'
import { createRoleSql, quoteLiteral } from '../../identity/role-statement.js'
import type { TokenIdentity } from '../../shared/identity.js'
import { credentialHelp, credentialOptions, entraOptionsFrom, parseCommandArgs } from '../args.js'
import type { Command } from '../command.js'
import {
  formatKeywordValue,
  isConninfo,
  isConninfoUri,
  parseKeywordValue,
  sslmodeIn,
  withVerifyFull,
} from '../libpq-conninfo.js'
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
    refuseWeakSslMode(psqlArgs, output)
    const pinnedArgs = pinVerifyFull(psqlArgs)
    const auth = entraAuth(entraOptionsFrom(values))
    const childEnv: Record<string, string | undefined> = { ...env }
    // getopt's POSIX mode would read psql's arguments otherwise than pinVerifyFull does.
    delete childEnv.POSIXLY_CORRECT
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
      const { code, stderrStart } = await runPsql(pinnedArgs, childEnv, { captureStderr: true })
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

// psql's options that take a value (getopt_long: short ones attached, as in -Ualice, or as the next argument; long
// ones as --name=value or the next argument, and any unique prefix of the name).
const psqlValueLetters = new Set(['c', 'd', 'f', 'F', 'h', 'L', 'o', 'p', 'P', 'R', 'T', 'U', 'v'])
const psqlLongOptions: Record<string, 'value' | 'flag'> = {
  'echo-all': 'flag',
  'no-align': 'flag',
  command: 'value',
  dbname: 'value',
  'echo-queries': 'flag',
  'echo-errors': 'flag',
  'echo-hidden': 'flag',
  file: 'value',
  'field-separator': 'value',
  'field-separator-zero': 'flag',
  host: 'value',
  html: 'flag',
  list: 'flag',
  'log-file': 'value',
  'no-readline': 'flag',
  'single-transaction': 'flag',
  output: 'value',
  port: 'value',
  pset: 'value',
  quiet: 'flag',
  'record-separator': 'value',
  'record-separator-zero': 'flag',
  'single-step': 'flag',
  'single-line': 'flag',
  'tuples-only': 'flag',
  'table-attr': 'value',
  username: 'value',
  set: 'value',
  variable: 'value',
  version: 'flag',
  'no-password': 'flag',
  password: 'flag',
  expanded: 'flag',
  'no-psqlrc': 'flag',
  help: 'flag',
  csv: 'flag',
}

/** The long option `--name` stands for: the exact name, else the one option it is a prefix of (getopt_long). */
function longOption(name: string): string | undefined {
  if (name in psqlLongOptions) return name
  const candidates = Object.keys(psqlLongOptions).filter((option) => option.startsWith(name))
  return candidates.length === 1 ? candidates[0] : undefined
}

/** An argument psql reads a database name or connection string from: `args[index]` is `prefix` + `value`. */
interface Slot {
  index: number
  prefix: string
  value: string
}

/** psql's -d/--dbname values and positionals (which getopt_long takes from anywhere, and all of them after `--`). */
function scanArguments(args: string[]): { dbnames: Slot[]; positionals: Slot[]; usernameFlag: boolean; list: boolean } {
  const dbnames: Slot[] = []
  const positionals: Slot[] = []
  let usernameFlag = false
  let list = false
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!
    if (arg === '--') {
      for (let rest = index + 1; rest < args.length; rest++)
        positionals.push({ index: rest, prefix: '', value: args[rest]! })
      break
    }
    if (arg.startsWith('--')) {
      const [name = '', attached] = splitOnce(arg.slice(2), '=')
      const option = longOption(name)
      if (option === 'username') usernameFlag = true
      if (option === 'list') list = true
      if (option === undefined || psqlLongOptions[option] !== 'value') continue
      if (attached !== undefined) {
        if (option === 'dbname')
          dbnames.push({ index, prefix: arg.slice(0, arg.length - attached.length), value: attached })
      } else if (index + 1 < args.length) {
        index++
        if (option === 'dbname') dbnames.push({ index, prefix: '', value: args[index]! })
      }
    } else if (arg.startsWith('-') && arg.length > 1) {
      // A cluster of short flags (-tAc): the first letter that takes a value takes the rest, or the next argument.
      const at = [...arg.slice(1)].findIndex((letter) => psqlValueLetters.has(letter))
      if (arg.slice(1, at === -1 ? undefined : at + 1).includes('l')) list = true
      if (at === -1) continue
      const letter = arg[at + 1]!
      if (letter === 'U') usernameFlag = true
      if (at + 2 < arg.length) {
        if (letter === 'd') dbnames.push({ index, prefix: arg.slice(0, at + 2), value: arg.slice(at + 2) })
      } else if (index + 1 < args.length) {
        index++
        if (letter === 'd') dbnames.push({ index, prefix: '', value: args[index]! })
      }
    } else positionals.push({ index, prefix: '', value: arg })
  }
  return { dbnames, positionals, usernameFlag, list }
}

function splitOnce(text: string, separator: string): [string, string?] {
  const at = text.indexOf(separator)
  return at < 0 ? [text] : [text.slice(0, at), text.slice(at + 1)]
}

/** Where psql takes its connection from: the last -d/--dbname, else the first positional (the second is the user). */
function connectionSlot({ dbnames, positionals }: ReturnType<typeof scanArguments>): Slot | undefined {
  return dbnames.at(-1) ?? positionals[0]
}

function connectionStrings(args: string[]): string[] {
  const slot = connectionSlot(scanArguments(args))
  return slot && isConninfo(slot.value) ? [slot.value] : []
}

function userGiven(args: string[], env: Record<string, string | undefined>): boolean {
  if (env.PGUSER) return true
  const { usernameFlag, dbnames, positionals } = scanArguments(args)
  if (usernameFlag || positionals.length >= (dbnames.length > 0 ? 1 : 2)) return true
  return connectionStrings(args).some((value) =>
    isConninfoUri(value)
      ? /^postgres(ql)?:\/\/[^/@]+@/.test(value)
      : (parseKeywordValue(value)?.some(([key]) => key === 'user') ?? false),
  )
}

/**
 * A connection string with a weak sslmode is refused (require, which Azure's portal writes, is taken as verify-full,
 * as the library takes it). Only an early, named error: the guarantee is {@link pinVerifyFull}.
 */
function refuseWeakSslMode(args: string[], output: { warn(message: string): void }): void {
  for (const value of connectionStrings(args)) {
    const mode = sslmodeIn(value)
    if (mode === 'require') output.warn('sslmode=require in the connection string replaced by verify-full')
    else if (mode !== undefined && mode !== 'verify-full') {
      const shown = /^[a-z-]{1,16}$/.test(mode) ? `sslmode=${mode}` : 'that sslmode'
      throw new PgEntraError('TLS_REQUIRED', `${shown} would let the token travel without a verified server`, {
        hint: 'remove sslmode from the connection string: pg-entra psql sets sslmode=verify-full',
      })
    }
  }
}

/**
 * psql's arguments with sslmode=verify-full as the last word of the connection string it uses (added as
 * --dbname when there is none, a database name turned into dbname=...): in libpq a later keyword wins, and the
 * string wins over PGSSLMODE and over a service file. However the string spells its own sslmode (quoted, spaced,
 * percent-encoded, ssl=true), the token goes to a server whose certificate verifies for the host.
 */
export function pinVerifyFull(args: string[]): string[] {
  const scan = scanArguments(args)
  const slot = connectionSlot(scan)
  // psql -l with no database connects to "postgres"; with one given (ours), to that one
  if (!slot)
    return [scan.list ? '--dbname=dbname=postgres sslmode=verify-full' : '--dbname=sslmode=verify-full', ...args]
  const pinned = isConninfo(slot.value)
    ? withVerifyFull(slot.value)
    : formatKeywordValue([
        ['dbname', slot.value],
        ['sslmode', 'verify-full'],
      ])
  if (pinned === undefined) {
    throw new PgEntraError('INVALID_OPTION', 'the connection string given to psql is not one libpq reads', {
      hint: "check its syntax: key=value pairs (quote values with spaces: key='a b') or a postgresql:// URI",
    })
  }
  const out = [...args]
  out[slot.index] = slot.prefix + pinned
  return out
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
