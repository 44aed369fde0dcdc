// `pg-entra-emulator stop` and `status`: the emulator a state file records, by instance name.
import { connectEmulator } from '../control/client.js'
import { EmulatorError } from '../env.js'
import { parseCommandArgs } from './args.js'
import { alive, DEFAULT_NAME, readStateFile, runningNames, stateFilePath } from './state-file.js'

export const STOP_HELP = `Usage: pg-entra-emulator stop [--name NAME]

Stops the emulator \`pg-entra-emulator start [--detach]\` started under NAME (default "default"), and waits until
it has stopped its PostgreSQL and exited.
`

export const STATUS_HELP = `Usage: pg-entra-emulator status [--name NAME] [--url URL] [--json]

Says whether the emulator named NAME (default "default"; or the one at --url or $PG_ENTRA_EMULATOR_URL) is
running. Exit code 0 when it is, 2 (with a coded error) when it is not.
`

const STOP_TIMEOUT_MS = 60_000

type Io = { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }

export async function runStop(args: string[], io: Io): Promise<number> {
  const values = parseCommandArgs(
    args,
    { name: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    'pg-entra-emulator stop --help',
  )
  if (values.help) {
    io.stdout.write(STOP_HELP)
    return 0
  }
  const path = stateFilePath(values.name ?? DEFAULT_NAME)
  const state = await readStateFile(path).catch(async (error: unknown) => {
    if (!(error instanceof EmulatorError) || error.code !== 'NO_RUNNING_EMULATOR') throw error
    const others = await runningNames(path)
    const stopOne = (name: string) => `pg-entra-emulator stop${name === DEFAULT_NAME ? '' : ` --name ${name}`}`
    throw new EmulatorError(
      'NO_RUNNING_EMULATOR',
      `nothing to stop: ${error.message}`,
      others.length > 0
        ? `running here: ${others.map((name) => `"${name}" (${stopOne(name)})`).join(', ')}`
        : 'no emulator started with pg-entra-emulator start runs here under any name',
    )
  })
  process.kill(state.pid, 'SIGTERM')
  const deadline = Date.now() + STOP_TIMEOUT_MS
  while (alive(state.pid)) {
    if (Date.now() > deadline) {
      throw new EmulatorError(
        'STOP_TIMEOUT',
        `the emulator (pid ${state.pid}) did not stop within ${STOP_TIMEOUT_MS / 1000} s`,
        `kill it: kill -9 ${state.pid}`,
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  io.stderr.write(`pg-entra-emulator: stopped "${state.name ?? values.name ?? DEFAULT_NAME}" (pid ${state.pid})\n`)
  return 0
}

export async function runStatus(args: string[], io: Io): Promise<number> {
  const values = parseCommandArgs(
    args,
    {
      name: { type: 'string' },
      url: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    'pg-entra-emulator status --help',
  )
  if (values.help) {
    io.stdout.write(STATUS_HELP)
    return 0
  }
  const url = values.url ?? (values.name ? undefined : process.env.PG_ENTRA_EMULATOR_URL)
  const state = url ? undefined : await readStateFile(stateFilePath(values.name ?? DEFAULT_NAME))
  const controlUrl = url ?? (state as { controlUrl: string }).controlUrl
  const emulator = await connectEmulator(controlUrl) // EMULATOR_NOT_RUNNING for stale exports
  const status = {
    running: true,
    controlUrl,
    tenantId: emulator.tenantId,
    pg: `${emulator.pg.host}:${emulator.pg.port}`,
    ...(emulator.pgbouncer ? { pgbouncer: `${emulator.pgbouncer.host}:${emulator.pgbouncer.port}` } : {}),
    ...(state ? { name: state.name, pid: state.pid, startedAt: state.startedAt } : {}),
  }
  io.stdout.write(
    values.json
      ? `${JSON.stringify(status)}\n`
      : `running: ${status.pg}${state ? ` (pid ${state.pid}, "${state.name}")` : ''}, control ${controlUrl}\n`,
  )
  return 0
}
