import { readFileSync } from 'node:fs'
import type { ConnectionFields } from '../../config/connection-fields.js'
import { parseConnectionString } from '../../config/connection-string.js'
import { readPgEnv } from '../../config/env.js'
import { PgEntraError } from '../../errors/pg-entra-error.js'
import { type ProxyConnectionEvent, startProxy } from '../../proxy/index.js'
import { logSafe } from '../../shared/log-text.js'
import { credentialHelp, credentialOptions, entraOptionsFrom, parseCommandArgs } from '../args.js'
import type { Command } from '../command.js'

const help = `Usage: pg-entra proxy [options] [server connection string]

A local auth proxy for tools that only take a password (psql scripts, pg_dump, GUI clients, migration tools, other
languages). Clients connect to it on loopback with no password; it logs in to the server over verified TLS
(verify-full) with a current Entra token, refreshed ahead of expiry and shared by every connection, then relays
bytes. Users and databases pass through. Stops on SIGINT/SIGTERM, or when its parent process goes away, after open
sessions finish (--grace-ms).

The server: a connection string (postgres://host:port or "host=... port=..."; sslmode and sslrootcert are read), or
PGHOST, PGPORT, PGSSLROOTCERT.

Options:
  --url <connection string>     the server, as an option instead of the argument
  --listen <host>               address to listen on (default 127.0.0.1); loopback only unless --allow-non-loopback
  --port <port>                 TCP port to listen on (default 5432; 0 picks a free one, printed at start)
  --unix-socket <path>          also listen on a Unix socket (mode 0600), e.g. /tmp/.s.PGSQL.5432 for psql -h /tmp
  --allow-non-loopback          let --listen be an address other machines reach: whoever connects is your identity
  --local-password-file <file>  clients must send the password in this file (or PG_ENTRA_PROXY_PASSWORD)
  --user <name>                 the user for clients that send none (default: the user derived from the token)
  --sslrootcert <file>          CA of the server's certificate (default: the public roots Node trusts)
  --max-connections <n>         client connections at once; one more gets 53300 "too many clients" (default: no limit)
  --log-connections             one line per connection on stderr: time, client, user, database, outcome
  --grace-ms <ms>               how long open sessions may finish after SIGINT/SIGTERM (default 10000)
  --help                        show this help

${credentialHelp}

Examples:
  pg-entra proxy --port 6432 myserver.postgres.database.azure.com
  psql "host=127.0.0.1 port=6432 dbname=orders user=me@contoso.com"
  pg-entra proxy --managed-identity --unix-socket /tmp/.s.PGSQL.5432 "host=myserver.postgres.database.azure.com"
  pg_dump -h /tmp -U orders-api orders > orders.sql`

const proxyOptions = {
  ...credentialOptions,
  url: { type: 'string' },
  listen: { type: 'string' },
  port: { type: 'string' },
  'unix-socket': { type: 'string' },
  'allow-non-loopback': { type: 'boolean' },
  'local-password-file': { type: 'string' },
  user: { type: 'string' },
  sslrootcert: { type: 'string' },
  'max-connections': { type: 'string' },
  'log-connections': { type: 'boolean' },
  'grace-ms': { type: 'string' },
  help: { type: 'boolean' },
} as const

function number(flag: string, text: string | undefined, fallback: number, max: number): number {
  if (text === undefined) return fallback
  const value = /^\d+$/.test(text) ? Number(text) : Number.NaN
  if (!Number.isInteger(value) || value > max) {
    throw new PgEntraError('INVALID_OPTION', `--${flag} must be a whole number up to ${max}`, {
      hint: `e.g. --${flag} ${fallback}`,
    })
  }
  return value
}

/** The server: PG* first, then the connection string over it, then --sslrootcert. */
export function serverFrom(
  connectionString: string | undefined,
  sslrootcert: string | undefined,
  env: Record<string, string | undefined>,
): ConnectionFields {
  const fromEnv = readPgEnv(env)
  const fields: ConnectionFields = {
    ...(fromEnv.host ? { host: fromEnv.host } : {}),
    ...(fromEnv.port ? { port: fromEnv.port } : {}),
    ...(fromEnv.sslmode ? { sslmode: fromEnv.sslmode } : {}),
    ...(fromEnv.sslrootcert ? { sslrootcert: fromEnv.sslrootcert } : {}),
  }
  if (connectionString) {
    // A bare host name is a connection string too: "pg-entra proxy myserver.postgres.database.azure.com".
    const text = /^[\w.-]+(:\d+)?$/.test(connectionString) ? `postgres://${connectionString}` : connectionString
    Object.assign(fields, withoutUndefined(parseConnectionString(text)))
  }
  if (sslrootcert) fields.sslrootcert = sslrootcert
  if (!fields.host) {
    throw new PgEntraError('INVALID_OPTION', 'pg-entra proxy needs the server', {
      hint: 'give it as an argument (pg-entra proxy myserver.postgres.database.azure.com) or in PGHOST',
    })
  }
  return fields
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}

function localPassword(file: string | undefined, env: Record<string, string | undefined>): string | undefined {
  if (file) {
    try {
      return readFileSync(file, 'utf8').replace(/\r?\n$/, '')
    } catch (error) {
      throw new PgEntraError(
        'INVALID_OPTION',
        `--local-password-file: cannot read ${file} (${(error as NodeJS.ErrnoException).code})`,
        { hint: 'give the path of a file that holds the password (mode 0600)' },
      )
    }
  }
  return env.PG_ENTRA_PROXY_PASSWORD || undefined
}

/** One line per connection, whatever names the client chose. */
export function connectionLine(event: ProxyConnectionEvent): string {
  const who = [
    event.time,
    event.client,
    ...(event.user !== undefined ? [`user=${event.user}`] : []),
    ...(event.database !== undefined ? [`database=${event.database}`] : []),
  ]
  const outcome =
    event.outcome === 'refused' ? `refused${event.code ? ` ${event.code}` : ''}: ${event.reason}` : event.outcome
  return logSafe(`${who.join(' ')} ${outcome}`)
}

export const proxyCommand: Command = {
  name: 'proxy',
  summary: 'a local auth proxy: any client connects without a password, the proxy logs in with a token',
  help,
  async run(args, { output, env }) {
    const parent = process.ppid // now: by the time the proxy listens, a parent may already be gone
    const { values, positionals } = parseCommandArgs('proxy', { args, options: proxyOptions, allowPositionals: true })
    if (values.help) {
      output.line(help)
      return 0
    }
    if (positionals.length > 1 || (positionals.length === 1 && values.url !== undefined)) {
      throw new PgEntraError('INVALID_OPTION', 'pg-entra proxy takes one server connection string', {
        hint: 'see: pg-entra proxy --help',
      })
    }
    const fields = serverFrom(positionals[0] ?? values.url, values.sslrootcert, env)
    const password = localPassword(values['local-password-file'], env)
    // Every option is read before the proxy listens: a bad one must not leave it serving.
    const graceMs = number('grace-ms', values['grace-ms'], 10_000, 86_400_000)
    const port = number('port', values.port, 5432, 65_535)
    const maxConnections =
      values['max-connections'] !== undefined
        ? number('max-connections', values['max-connections'], 100, 1_000_000)
        : undefined
    const proxy = await startProxy({
      server: fields.host!.startsWith('/')
        ? { host: fields.host! } // refused below by the TLS rules, with their hint
        : {
            host: fields.host!,
            ...(fields.port ? { port: fields.port } : {}),
            ...(fields.sslmode ? { sslmode: fields.sslmode } : {}),
            ...(fields.sslrootcert ? { sslrootcert: fields.sslrootcert } : {}),
          },
      entra: entraOptionsFrom(values),
      ...(values.listen ? { host: values.listen } : {}),
      port,
      ...(values['unix-socket'] ? { unixSocket: values['unix-socket'] } : {}),
      allowNonLoopback: values['allow-non-loopback'] === true,
      ...(password !== undefined ? { localPassword: password } : {}),
      ...(values.user ? { user: values.user } : {}),
      ...(maxConnections !== undefined ? { maxConnections } : {}),
      ...(values['log-connections']
        ? { onConnection: (event: ProxyConnectionEvent) => output.streams.stderr.write(`${connectionLine(event)}\n`) }
        : {}),
    })
    try {
      await proxy.auth.token() // a credential that cannot get a token fails now, not at the first client
    } catch (error) {
      await proxy.close({ graceMs: 0 })
      throw error
    }
    const where = [`${proxy.host}:${proxy.port}`, ...(proxy.unixSocket ? [proxy.unixSocket] : [])].join(' and ')
    output.line(`pg-entra proxy: listening on ${where} for ${fields.host}:${fields.port ?? 5432}`)
    await new Promise<void>((resolve) => {
      // `npx pg-entra proxy & kill $!` ends npx, not the proxy (npx passes no SIGTERM on): a proxy whose parent went
      // away stops as if told to.
      const orphaned = setInterval(() => {
        if (process.ppid !== parent) stop('parent process gone')
      }, 1000).unref()
      const stop = (why: string) => {
        clearInterval(orphaned)
        process.off('SIGINT', stop)
        process.off('SIGTERM', stop)
        output.line(`pg-entra proxy: ${why}, stopping (open sessions have ${graceMs} ms to finish)`)
        resolve()
      }
      process.on('SIGINT', stop)
      process.on('SIGTERM', stop)
    })
    await proxy.close({ graceMs })
    output.line('pg-entra proxy: stopped')
    return 0
  },
}
