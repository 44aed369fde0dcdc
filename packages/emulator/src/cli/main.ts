#!/usr/bin/env node
import { createRequire } from 'node:module'
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

const COMMANDS = ['start', 'stop', 'status', 'token'] as const

function version(): string {
  const require = createRequire(import.meta.url)
  // ../ from dist/, ../../ from src/cli/ (run through tsx)
  for (const path of ['../package.json', '../../package.json']) {
    try {
      const pkg = require(path) as { name?: string; version?: string }
      if (pkg.name === 'pg-entra-emulator' && pkg.version) return pkg.version
    } catch {}
  }
  return 'unknown'
}

/** The command `typed` is one or two edits away from, if exactly one is. */
function closestCommand(typed: string): string | undefined {
  const distance = (a: string, b: string) => {
    const row = Array.from({ length: b.length + 1 }, (_, j) => j)
    for (let i = 1; i <= a.length; i++) {
      let diagonal = row[0]!
      row[0] = i
      for (let j = 1; j <= b.length; j++) {
        const above = row[j]!
        row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1))
        diagonal = above
      }
    }
    return row[b.length]!
  }
  const near = COMMANDS.filter((name) => distance(typed.toLowerCase(), name) <= 2)
  return near.length === 1 ? near[0] : undefined
}

async function main(argv: string[]): Promise<number> {
  const io = { stdout: process.stdout, stderr: process.stderr }
  const [command, ...rest] = argv
  if (command === '--version' || command === '-V' || command === 'version') {
    io.stdout.write(`${version()}\n`)
    return 0
  }
  // `help start` is `start --help`
  if (command === 'help' && rest[0] && (COMMANDS as readonly string[]).includes(rest[0])) {
    return main([rest[0], '--help'])
  }
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
  const near = closestCommand(command)
  process.stderr.write(
    `BAD_ARGUMENTS: unknown command "${command}"\nhint: ${near ? `did you mean "${near}"? ` : ''}the commands are ${COMMANDS.join(', ')}; see pg-entra-emulator --help\n`,
  )
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
