// `pg-entra-emulator start`: run an emulator with a default directory, print the environment, run until signalled.
import { writeFile } from 'node:fs/promises'
import { DISCOVERY_WARNING, EmulatorError } from '../env.js'
import type { PrincipalSpec, Profile } from '../types.js'
import { parseCommandArgs, positiveInteger } from './args.js'
import { startDetached } from './detach.js'
import { parentGone } from './parent-watch.js'
import {
  alreadyRunning,
  claimStateFile,
  DEFAULT_NAME,
  readStateFile,
  removeStateFile,
  stateFilePath,
} from './state-file.js'

export const START_HELP = `Usage: pg-entra-emulator start [options]

Starts Entra ID (HTTPS, with its own CA), managed-identity endpoints and an Azure-like PostgreSQL on 127.0.0.1,
prints the environment an application needs on stdout, and runs until interrupted (Ctrl-C or SIGTERM) or until
the process that started it goes away. Progress goes to stderr. With --detach it returns once the emulator is
ready and leaves it running until \`pg-entra-emulator stop\`.

Options:
  --profile NAME         managed-identity (default): IDENTITY_ENDPOINT + IDENTITY_HEADER, as on App Service
                         service-principal: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_AUTHORITY_HOST
  --principal NAME       name of the profile's principal and its database role (PGUSER); default demo-app
                         (managed identity) or demo-sp (service principal)
  --token-lifetime S     lifetime of issued tokens in seconds (default: Azure's, 24 h for managed identities
                         with refresh_in at half, 3599 s for service principals and users)
  --pgbouncer            also a PgBouncer port, like Azure's 6432: the same Entra check, then Debian's pgbouncer
                         in transaction mode (PG_ENTRA_EMULATOR_PGBOUNCER_PORT); needs the pgbouncer package
  --extensions A,B       Azure's azure.extensions: the extensions CREATE EXTENSION allows (default none, as on
                         Azure), e.g. --extensions pgcrypto,uuid-ossp,vector
  --json                 print one JSON object of variable names to values instead of export lines
  --name NAME            instance name (default "default"): its state file, for token, status and stop
  --detach               return once ready; the emulator runs on until \`pg-entra-emulator stop [--name NAME]\`,
                         its log in the state directory (NAME.log)
  --write-env PATH       also write the printed environment to PATH (mode 0600; not --env-file, which Node 20
                         takes for itself wherever it appears on its command line)
  -h, --help             this help

The default directory holds one system-assigned managed identity and one service principal with a secret,
each with an admin database role (member of azure_pg_admin, which may create in schema public) created by
pgaadauth_create_principal_with_oid.

Examples:
  pg-entra-emulator start --detach --write-env emulator.env && . ./emulator.env   # CI: then
  pg-entra-emulator stop
  pg-entra-emulator start > emulator.env &     # runs until stopped; the export lines land in emulator.env
  until [ -s emulator.env ]; do sleep 1; done; . ./emulator.env
  pg-entra-emulator start --json > env.json &
  pg-entra-emulator start --profile service-principal --principal my-api --token-lifetime 600

  # in another shell, with the printed environment:
  PGPASSWORD="$(pg-entra-emulator token)" psql -c 'select current_user'
`

function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`
}

export function formatEnv(env: Record<string, string>, json: boolean): string {
  if (json) return `${JSON.stringify(env)}\n`
  return Object.entries(env)
    .map(([k, v]) => `export ${k}=${shellQuote(v)}\n`)
    .join('')
}

export function defaultDirectory(profile: Profile, principal: string | undefined): PrincipalSpec[] {
  const mi = profile === 'managed-identity' && principal ? principal : 'demo-app'
  const sp = profile === 'service-principal' && principal ? principal : 'demo-sp'
  // Admins, like the Entra administrator Azure's portal sets up: they may create tables in public.
  return [
    { kind: 'managedIdentity', name: mi, assignment: 'system', role: { admin: true } },
    { kind: 'servicePrincipal', name: sp, role: { admin: true } },
  ]
}

/** Creates the --write-env file (empty, 0600) before anything starts: a path it cannot write must not leave one running. */
async function claimEnvFile(path: string): Promise<void> {
  try {
    await writeFile(path, '', { mode: 0o600 })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'an error'
    throw new EmulatorError(
      'BAD_ARGUMENTS',
      `cannot write the --write-env file ${path} (${code})`,
      'give a path in a directory that exists and that you may write to, e.g. --write-env emulator.env',
    )
  }
}

/** Resolves on the first SIGINT, SIGTERM or SIGHUP: the CLI then stops the emulator in order and exits 0. */
function takeOverSignals(): Promise<void> {
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
  return new Promise<void>((resolve) => {
    const onSignal = () => {
      for (const signal of signals) process.off(signal, onSignal)
      resolve()
    }
    for (const signal of signals) process.on(signal, onSignal)
  })
}

export async function runStart(
  args: string[],
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream },
): Promise<number> {
  const values = parseCommandArgs(
    args,
    {
      profile: { type: 'string' },
      principal: { type: 'string' },
      'token-lifetime': { type: 'string' },
      pgbouncer: { type: 'boolean' },
      extensions: { type: 'string' },
      json: { type: 'boolean' },
      name: { type: 'string' },
      detach: { type: 'boolean' },
      'write-env': { type: 'string' },
      // internal: the process `--detach` starts
      'detached-child': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    'pg-entra-emulator start --help',
  )
  if (values.help) {
    io.stdout.write(START_HELP)
    return 0
  }
  const profile = (values.profile ?? 'managed-identity') as Profile
  if (profile !== 'managed-identity' && profile !== 'service-principal') {
    throw new EmulatorError(
      'BAD_ARGUMENTS',
      `unknown profile "${values.profile}"`,
      'use --profile managed-identity or --profile service-principal',
    )
  }
  const tokenLifetimeSeconds = positiveInteger('--token-lifetime', values['token-lifetime'])
  // A detached emulator's parent reads its first line and goes; a foreground one's may be killed: writes to their
  // pipes must not kill the emulator (EPIPE) before it has stopped PostgreSQL and removed its state file.
  process.stdout.on('error', () => {})
  process.stderr.on('error', () => {})
  const name = values.name ?? DEFAULT_NAME
  const statePath = stateFilePath(name)
  await refuseIfRunning(statePath)
  if (values['write-env']) await claimEnvFile(values['write-env'])
  if (values.detach) {
    const env = await startDetached(args, statePath)
    const text = formatEnv(env, values.json ?? false)
    if (values['write-env']) await writeFile(values['write-env'], text, { mode: 0o600 })
    io.stdout.write(text)
    io.stderr.write(`pg-entra-emulator: running detached; stop it with: pg-entra-emulator stop --name ${name}\n`)
    return 0
  }
  const principals = defaultDirectory(profile, values.principal)
  const started = Date.now()
  io.stderr.write('pg-entra-emulator: starting Entra ID, managed identity endpoints and PostgreSQL...\n')
  // Loaded here so that `token` stays light: it only talks to a running emulator.
  const { startEmulator } = await import('../emulator.js')
  const emulator = await startEmulator({
    principals,
    ...(tokenLifetimeSeconds === undefined ? {} : { tokenLifetimeSeconds }),
    ...(values.pgbouncer ? { pgbouncer: true } : {}),
    ...(values.extensions !== undefined
      ? {
          extensions: values.extensions
            .split(',')
            .map((name) => name.trim())
            .filter(Boolean),
        }
      : {}),
    log: (line) => io.stderr.write(`pg-entra-emulator: ${line}\n`),
  })
  let stopping: Promise<void> | undefined
  const stop = () => {
    stopping ??= (async () => {
      io.stderr.write('pg-entra-emulator: stopping...\n')
      await removeStateFile(statePath, process.pid).catch(() => {})
      await emulator.stop()
    })()
    return stopping
  }
  try {
    const principal = profile === 'managed-identity' ? principals[0] : principals[1]
    const env = emulator.env({ profile, principal: (principal as { name: string }).name })
    await claimStateFile(statePath, {
      name,
      controlUrl: emulator.controlUrl,
      pid: process.pid,
      profile,
      principal: (principal as { name: string }).name,
      startedAt: new Date().toISOString(),
      env,
    })
    if (profile === 'service-principal') io.stderr.write(`${DISCOVERY_WARNING}\n`)
    io.stderr.write(
      `pg-entra-emulator: ready in ${Date.now() - started} ms; state in ${statePath}; Ctrl-C to stop\n` +
        `pg-entra-emulator: a token for PGUSER: pg-entra-emulator token --principal ${env.PGUSER}\n`,
    )
    const text = formatEnv(env, values.json ?? false)
    if (values['write-env']) await writeFile(values['write-env'], text, { mode: 0o600 })
    io.stdout.write(text)
  } catch (e) {
    await stop()
    throw e
  }
  // `--detach`'s child outlives its parent on purpose; a foreground emulator does not (npm exec keeps SIGTERM)
  const watching = values['detached-child'] ? undefined : parentGone()
  await Promise.race([takeOverSignals(), ...(watching ? [watching.gone] : [])])
  watching?.cancel()
  await stop()
  return 0
}

async function refuseIfRunning(statePath: string): Promise<void> {
  const running = await readStateFile(statePath).catch(() => undefined)
  if (running) throw alreadyRunning(running, statePath)
}
