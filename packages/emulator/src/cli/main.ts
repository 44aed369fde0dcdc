#!/usr/bin/env node
import { isEmulatorError } from '../env.js'
import { runStart } from './start.js'
import { runStatus, runStop } from './stop.js'
import { runToken } from './token.js'

const HELP = `Usage: pg-entra-emulator <command> [options]

Microsoft Entra ID and an Azure-like PostgreSQL on one machine: develop and test Entra authentication with no
Azure account. Only loopback addresses are used.

Commands:
  start    start the emulator, print the environment an application needs, run until interrupted
           (or, with --detach, return once it is ready)
  stop     stop an emulator started with start [--detach] [--name NAME]
  status   say whether an emulator is running
  token    print a fresh token for a principal of a running emulator

Run \`pg-entra-emulator <command> --help\` for its options.

Examples:
  pg-entra-emulator start --json
  PGPASSWORD="$(pg-entra-emulator token)" psql -c 'select current_user'
`

async function main(argv: string[]): Promise<number> {
  const io = { stdout: process.stdout, stderr: process.stderr }
  const [command, ...rest] = argv
  if (command === 'start') return runStart(rest, io)
  if (command === 'token') return runToken(rest, io)
  if (command === 'stop') return runStop(rest, io)
  if (command === 'status') return runStatus(rest, io)
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    if (command === undefined) {
      io.stderr.write(HELP)
      return 2
    }
    io.stdout.write(HELP)
    return 0
  }
  process.stderr.write(`BAD_ARGUMENTS: unknown command "${command}"\nhint: pg-entra-emulator --help\n`)
  return 2
}

main(process.argv.slice(2)).then(
  // process.exit: a library's exit hook must not turn our exit code into 0.
  (code) => process.exit(code),
  (e: unknown) => {
    const code =
      isEmulatorError(e) || typeof (e as { code?: unknown }).code === 'string'
        ? String((e as { code: string }).code)
        : 'INTERNAL'
    const hint = (e as { hint?: unknown }).hint
    process.stderr.write(
      `${code}: ${(e as Error).message ?? String(e)}\nhint: ${typeof hint === 'string' && hint ? hint : 'run with --help; if this persists, report it with the message above'}\n`,
    )
    process.exit(2)
  },
)
