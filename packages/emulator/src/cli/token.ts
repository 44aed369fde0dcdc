// `pg-entra-emulator token`: a fresh token for a principal of a running emulator.
import { connectEmulator } from '../control/client.js'
import { parseCommandArgs, positiveInteger } from './args.js'
import { DEFAULT_NAME, readStateFile, stateFilePath } from './state-file.js'

export const TOKEN_HELP = `Usage: pg-entra-emulator token [options]

Prints a fresh access token for a principal of a running emulator (started with \`pg-entra-emulator start\`),
as Entra would issue it for Azure Database for PostgreSQL. Use it as the PostgreSQL password.

Options:
  --principal NAME     the principal (default: the one PGUSER names in the emulator's printed environment)
  --lifetime S         token lifetime in seconds (default: the emulator's)
  --url URL            the emulator's control URL (default: $PG_ENTRA_EMULATOR_URL, else the state file
                       ~/.cache/pg-entra-emulator/NAME.json that \`start\` writes)
  --name NAME          the instance \`start --name\` started (default "default")
  -h, --help           this help

Examples:
  PGPASSWORD="$(pg-entra-emulator token)" psql -c 'select current_user'
  pg-entra-emulator token --principal demo-sp --lifetime 120
`

export async function runToken(
  args: string[],
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream },
): Promise<number> {
  const values = parseCommandArgs(
    args,
    {
      principal: { type: 'string' },
      lifetime: { type: 'string' },
      url: { type: 'string' },
      name: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    'pg-entra-emulator token --help',
  )
  if (values.help) {
    io.stdout.write(TOKEN_HELP)
    return 0
  }
  const lifetimeSeconds = positiveInteger('--lifetime', values.lifetime)
  const fromEnv = values.url ?? (values.name ? undefined : process.env.PG_ENTRA_EMULATOR_URL)
  const state = fromEnv ? undefined : await readStateFile(stateFilePath(values.name ?? DEFAULT_NAME))
  const controlUrl = fromEnv ?? (state as { controlUrl: string }).controlUrl
  const emulator = await connectEmulator(controlUrl)
  const principal = values.principal ?? state?.principal ?? process.env.PGUSER ?? emulator.env().PGUSER
  const token = await emulator.token(principal as string, lifetimeSeconds === undefined ? {} : { lifetimeSeconds })
  io.stdout.write(`${token}\n`)
  return 0
}
