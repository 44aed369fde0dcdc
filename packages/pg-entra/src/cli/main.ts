#!/usr/bin/env node
import { isPgEntraError, PgEntraError } from '../errors/pg-entra-error.js'
import { closestName } from '../shared/did-you-mean.js'
import type { Command, CommandContext } from './command.js'
import { checkCommand } from './commands/check.js'
import { execCommand } from './commands/exec.js'
import { proxyCommand } from './commands/proxy.js'
import { psqlCommand } from './commands/psql.js'
import { tokenCommand } from './commands/token.js'
import { whoamiCommand } from './commands/whoami.js'
import { Output } from './output.js'

const commands: readonly Command[] = [tokenCommand, whoamiCommand, checkCommand, psqlCommand, execCommand, proxyCommand]

const help = `Usage: pg-entra <command> [options]

Microsoft Entra ID authentication for Azure Database for PostgreSQL, from the command line. The options and the
environment variables are the library's, so what works here works in the application.

Commands:
${commands.map((command) => `  ${command.name.padEnd(8)}${command.summary}`).join('\n')}

Run pg-entra <command> --help for its options and examples.

Exit codes: 0 success, 1 a check failed (or psql's own code), 2 a pg-entra error (code, message and hint printed).

Examples:
  PGPASSWORD="$(pg-entra token)" psql "host=myserver.postgres.database.azure.com user=me@contoso.com"
  pg-entra whoami
  pg-entra check "postgresql://orders-api@myserver.postgres.database.azure.com/orders"
  pg-entra psql -h myserver.postgres.database.azure.com -d orders
  pg-entra exec --host myserver.postgres.database.azure.com -- pg_dump -d orders -f orders.sql
  pg-entra proxy --port 6432 myserver.postgres.database.azure.com`

export async function main(argv: string[], context: CommandContext): Promise<number> {
  const [name, ...args] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    context.output.line(help)
    return name === undefined ? 2 : 0
  }
  if (name === '--version') {
    context.output.line(await version())
    return 0
  }
  const command = commands.find((candidate) => candidate.name === name)
  if (!command) {
    const names = commands.map((c) => c.name)
    const near = closestName(name, names)
    context.output.error(
      new PgEntraError('INVALID_OPTION', `unknown command "${name}"`, {
        hint: `${near ? `did you mean "${near}"? ` : ''}the commands are ${names.join(', ')}; see pg-entra --help`,
      }),
    )
    return 2
  }
  try {
    return await command.run(args, context)
  } catch (error) {
    context.output.error(error)
    if (!isPgEntraError(error) && context.env.PG_ENTRA_DEBUG) console.error(error)
    return 2
  }
}

async function version(): Promise<string> {
  const { createRequire } = await import('node:module')
  const pkg = createRequire(import.meta.url)('../package.json') as { version: string }
  return pkg.version
}

// `pg-entra whoami | head -3`: a reader that goes away early is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error
    process.exit(process.exitCode ?? 0)
  })
}
const output = new Output({ stdout: process.stdout, stderr: process.stderr, env: process.env })
main(process.argv.slice(2), { output, env: process.env }).then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    output.error(error)
    process.exitCode = 2
  },
)
