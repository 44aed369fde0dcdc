import { spawn } from 'node:child_process'
import { constants } from 'node:os'
import { entraAuth } from '../../auth/entra-auth.js'
import { asPort, type ConnectionFields } from '../../config/connection-fields.js'
import { parseConnectionString } from '../../config/connection-string.js'
import { readPgEnv } from '../../config/env.js'
import { PgEntraError } from '../../errors/pg-entra-error.js'
import { resolveEntraSsl } from '../../tls/pg-ssl.js'
import { credentialHelp, credentialOptions, entraOptionsFrom, parseCommandArgs } from '../args.js'
import type { Command } from '../command.js'
import { isConninfo } from '../libpq-conninfo.js'
import { libpqHasRootCertificate, writeNodeRootCertificates } from '../root-certificates.js'

const help = `Usage: pg-entra exec [options] -- <command> [arguments]

Runs a short-lived tool with a fresh Entra token as its password: PGHOST, PGPORT, PGUSER (derived from the token when
none is given), PGDATABASE, PGSSLMODE=verify-full, PGSSLROOTCERT where needed and PGPASSWORD are set in the
command's environment only, never printed. The command's exit code is returned (128+n when a signal ends it). For
tools that read a URL, --url-env NAME also sets NAME to postgresql://user:token@host:port/db?sslmode=verify-full.
The token lives as long as Entra says (often an hour): for long-running tools use pg-entra proxy.

Where to connect: PG* variables, then --url, then the flags.

Options:
  --url <connection string>     postgres:// URL or "host=... dbname=..." (no password)
  --host <host>                 server host (PGHOST)
  --port <port>                 server port (PGPORT)
  --user <name>                 database user (PGUSER; default: derived from the token)
  --database <name>             database (PGDATABASE)
  --sslrootcert <file>          CA of the server's certificate (default: the public roots Node trusts)
  --url-env <NAME>              also set NAME to a postgresql:// URL with the token, e.g. DATABASE_URL
  --help                        show this help

${credentialHelp}

Examples:
  pg-entra exec --host myserver.postgres.database.azure.com --database orders -- pg_dump -Fc -f orders.dump
  pg-entra exec --url-env DATABASE_URL --url postgres://myserver.postgres.database.azure.com/orders -- npx drizzle-kit migrate
  PGHOST=myserver.postgres.database.azure.com pg-entra exec --managed-identity -- psql -c "select current_user"`

const execOptions = {
  ...credentialOptions,
  url: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  user: { type: 'string' },
  database: { type: 'string' },
  sslrootcert: { type: 'string' },
  'url-env': { type: 'string' },
  help: { type: 'boolean' },
} as const

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}

type Values = { [K in 'url' | 'host' | 'port' | 'user' | 'database' | 'sslrootcert']?: string | undefined }

/** Where to connect, as the library reads it: PG* first, the connection string over it, the flags over both. */
export function connectionFrom(values: Values, env: Record<string, string | undefined>): ConnectionFields {
  const fields: ConnectionFields = { ...readPgEnv(env) }
  delete fields.password // the token is the password
  if (values.url) {
    const parsed = parseConnectionString(values.url)
    if (parsed.password !== undefined) {
      throw new PgEntraError('INVALID_OPTION', '--url carries a password', {
        hint: 'leave the password out: pg-entra exec gives the command a fresh token as its password',
      })
    }
    Object.assign(fields, withoutUndefined(parsed))
  }
  if (values.host) fields.host = values.host
  if (values.port) {
    const port = asPort(values.port)
    if (port === undefined)
      throw new PgEntraError('INVALID_OPTION', '--port must be a port number', { hint: 'e.g. --port 5432' })
    fields.port = port
  }
  if (values.user) fields.user = values.user
  if (values.database) fields.database = values.database
  if (values.sslrootcert) fields.sslrootcert = values.sslrootcert
  if (!fields.host) {
    throw new PgEntraError('INVALID_OPTION', 'pg-entra exec needs the server host', {
      hint: 'give --host, --url or PGHOST (e.g. myserver.postgres.database.azure.com)',
    })
  }
  return fields
}

/** postgresql://user:token@host:port/db?sslmode=verify-full[&sslrootcert=...], every part percent-encoded. */
export function tokenUrl(
  fields: ConnectionFields,
  user: string,
  token: string,
  sslrootcert: string | undefined,
): string {
  const host = fields.host!.includes(':') ? `[${fields.host}]` : fields.host!
  const path = fields.database ? `/${encodeURIComponent(fields.database)}` : ''
  const query = `sslmode=verify-full${sslrootcert ? `&sslrootcert=${encodeURIComponent(sslrootcert)}` : ''}`
  return `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(token)}@${host}:${fields.port ?? 5432}${path}?${query}`
}

export const execCommand: Command = {
  name: 'exec',
  summary: 'run a command with a fresh token in PGPASSWORD (and PGHOST, PGUSER... sslmode=verify-full)',
  help,
  async run(args, { output, env }) {
    const separator = args.indexOf('--')
    const ours = separator === -1 ? args : args.slice(0, separator)
    const command = separator === -1 ? [] : args.slice(separator + 1)
    const { values } = parseCommandArgs('exec', { args: ours, options: execOptions })
    if (values.help) {
      output.line(help)
      return 0
    }
    if (command.length === 0) {
      throw new PgEntraError('INVALID_OPTION', 'pg-entra exec needs a command after --', {
        hint: 'e.g. pg-entra exec --host myserver.postgres.database.azure.com -- psql -c "select 1"',
      })
    }
    const urlEnv = values['url-env']
    if (urlEnv !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(urlEnv)) {
      throw new PgEntraError('INVALID_OPTION', '--url-env must be an environment variable name', {
        hint: 'e.g. --url-env DATABASE_URL',
      })
    }
    if (env.PGSERVICE !== undefined) {
      // libpq takes a service file's settings over the environment: its host and sslmode would win over ours.
      throw new PgEntraError(
        'INVALID_OPTION',
        "PGSERVICE is set: libpq would take its service file's host, port and sslmode over the PG* variables pg-entra exec sets",
        {
          hint: 'unset it for this command (env -u PGSERVICE pg-entra exec ...) and give the server with --host or --url',
        },
      )
    }
    const fields = connectionFrom(values, env)
    refuseConnectionStringAsName(fields)
    resolveEntraSsl(undefined, fields, false) // refuses a weak sslmode or a Unix socket before any token is fetched
    const auth = entraAuth(entraOptionsFrom(values))
    let token: string
    let user: string
    try {
      token = (await auth.token()).token
      user = fields.user ?? (await auth.principal())
    } finally {
      await auth.close()
    }
    const childEnv: Record<string, string | undefined> = { ...env }
    childEnv.PGHOST = fields.host
    if (fields.port) childEnv.PGPORT = String(fields.port)
    childEnv.PGUSER = user
    if (fields.database) childEnv.PGDATABASE = fields.database
    childEnv.PGSSLMODE = 'verify-full'
    let roots: { file: string; remove(): void } | undefined
    if (fields.sslrootcert) childEnv.PGSSLROOTCERT = fields.sslrootcert
    else if (!libpqHasRootCertificate()) {
      roots = writeNodeRootCertificates('pg-entra-exec-')
      childEnv.PGSSLROOTCERT = roots.file
    }
    childEnv.PGPASSWORD = token
    if (urlEnv) childEnv[urlEnv] = tokenUrl(fields, user, token, childEnv.PGSSLROOTCERT)
    try {
      return await runChild(command[0]!, command.slice(1), childEnv)
    } finally {
      roots?.remove()
    }
  },
}

/**
 * pgbench, vacuumdb and other libpq tools read PGDATABASE (or PGUSER, when it is unset) as a connection string when it
 * looks like one, and its settings win over the PG* variables exec sets: a database or user name with `=` in it, or a
 * postgresql:// URI, could send the token elsewhere, or in clear.
 */
function refuseConnectionStringAsName(fields: ConnectionFields): void {
  for (const [what, value] of [
    ['database', fields.database],
    ['user', fields.user],
  ] as const) {
    if (value !== undefined && isConninfo(value)) {
      throw new PgEntraError(
        'INVALID_OPTION',
        `the ${what} name looks like a connection string, which libpq tools such as pgbench read as connection settings over the ones pg-entra exec sets`,
        {
          hint: `give the server with --host/--port or --url, and the ${what} by its name alone (--${what}, ${what === 'user' ? 'PGUSER' : 'PGDATABASE'})`,
        },
      )
    }
  }
}

function runChild(command: string, args: string[], env: Record<string, string | undefined>): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'inherit', env })
    // The terminal sends Ctrl-C to the child as well: this process only waits for it. A SIGTERM is passed on.
    const ignore = () => {}
    const terminate = () => child.kill('SIGTERM')
    process.on('SIGINT', ignore)
    process.on('SIGTERM', terminate)
    const done = () => {
      process.off('SIGINT', ignore)
      process.off('SIGTERM', terminate)
    }
    child.once('error', (error: NodeJS.ErrnoException) => {
      done()
      if (error.code !== 'ENOENT') return reject(error)
      reject(
        new PgEntraError('INVALID_OPTION', `${command} was not found`, {
          hint: 'check the command after -- and the PATH',
        }),
      )
    })
    child.once('exit', (code, signal) => {
      done()
      resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0))
    })
  })
}
