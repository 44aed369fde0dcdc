import { spawn } from 'node:child_process'
import { entraAuth } from '../../auth/entra-auth.js'
import { PgEntraError } from '../../errors/pg-entra-error.js'
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
    if (psqlArgs.some((arg) => psqlInfoFlags.has(arg))) return runPsql(psqlArgs, env)
    refuseWeakSslMode(psqlArgs)
    const auth = entraAuth(entraOptionsFrom(values))
    const childEnv: Record<string, string | undefined> = { ...env }
    try {
      childEnv.PGPASSWORD = (await auth.token()).token
      if (!userGiven(psqlArgs, env)) childEnv.PGUSER = await auth.principal()
    } finally {
      await auth.close()
    }
    if (env.PGSSLMODE && env.PGSSLMODE !== 'verify-full')
      output.warn(`PGSSLMODE=${env.PGSSLMODE} replaced by verify-full`)
    childEnv.PGSSLMODE = 'verify-full'
    const removeRoots = rootCertificateFile(psqlArgs, childEnv)
    try {
      return await runPsql(psqlArgs, childEnv)
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

function runPsql(args: string[], env: Record<string, string | undefined>): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(env.PG_ENTRA_PSQL || 'psql', args, { stdio: 'inherit', env })
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
    child.once('exit', (code, signal) => {
      process.removeListener('SIGINT', ignore)
      resolve(code ?? 128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1))
    })
  })
}
