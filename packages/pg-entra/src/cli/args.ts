import { readFileSync } from 'node:fs'
import { type ParseArgsConfig, parseArgs } from 'node:util'
import type { CloudName, EntraAuthOptions } from '../auth/types.js'
import { PgEntraError } from '../errors/pg-entra-error.js'

type OptionSpec = NonNullable<ParseArgsConfig['options']>[string]

/** The credential and cloud options every command takes: the library's EntraAuthOptions, spelled as flags. */
export const credentialOptions = {
  'tenant-id': { type: 'string' },
  'client-id': { type: 'string' },
  'client-secret': { type: 'string' },
  'certificate-path': { type: 'string' },
  'certificate-password': { type: 'string' },
  'federated-token-file': { type: 'string' },
  'managed-identity': { type: 'boolean' },
  'managed-identity-resource-id': { type: 'string' },
  cloud: { type: 'string' },
  scope: { type: 'string' },
  'authority-host': { type: 'string' },
  'authority-ca': { type: 'string' },
} as const satisfies Record<string, OptionSpec>

export const credentialHelp = `Credential options (default: the AZURE_* environment variables @azure/identity reads):
  --tenant-id <id>              tenant (AZURE_TENANT_ID)
  --client-id <id>              service principal or user-assigned managed identity (AZURE_CLIENT_ID)
  --client-secret <secret>      service principal secret; prefer AZURE_CLIENT_SECRET, argv is visible to ps
  --certificate-path <file>     PEM with key and certificate (AZURE_CLIENT_CERTIFICATE_PATH)
  --certificate-password <pw>   password of that PEM
  --federated-token-file <file> workload identity (AZURE_FEDERATED_TOKEN_FILE)
  --managed-identity            use the managed identity (user-assigned with --client-id)
  --managed-identity-resource-id <id>  user-assigned managed identity by resource id
  --cloud public|china|usgov    sets the authority host and the scope (default public)
  --scope <scope>               overrides the cloud's scope
  --authority-host <url>        overrides the cloud's authority host (AZURE_AUTHORITY_HOST)
  --authority-ca <file>         PEM CA to trust for the authority host (e.g. pg-entra-emulator's CA)`

const clouds: readonly CloudName[] = ['public', 'china', 'usgov']

export type CredentialValues = {
  [K in keyof typeof credentialOptions]?: (typeof credentialOptions)[K] extends { type: 'boolean' } ? boolean : string
}

/** parseArgs, with its TypeErrors turned into INVALID_OPTION errors that point at --help. */
export function parseCommandArgs<T extends ParseArgsConfig>(
  command: string,
  config: T,
): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs<T>({ ...config, strict: true })
  } catch (error) {
    throw argumentError(command, error as NodeJS.ErrnoException, config.args ?? [])
  }
}

/** Options whose value is a secret: an argument after one may be a piece of it, and is never echoed. */
const secretOptions = new Set(['--client-secret', '--certificate-password'])

/** parseArgs's error as one line that says what to do, echoing no piece of a secret. */
function argumentError(command: string, error: NodeJS.ErrnoException, args: readonly string[]): PgEntraError {
  const hint = `see: pg-entra ${command} --help`
  if (error.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    const positional = /^Unexpected argument '(.*)'\./s.exec(error.message)?.[1] ?? ''
    const secretAt = args.findIndex((arg) => [...secretOptions].some((o) => arg === o || arg.startsWith(`${o}=`)))
    if (secretAt !== -1 && args.indexOf(positional, secretAt + 1) !== -1) {
      const option = args[secretAt]!.split('=')[0]
      return new PgEntraError(
        'INVALID_OPTION',
        `an unexpected argument after ${option} (not shown: it may be part of the secret)`,
        { hint: 'quote a secret with spaces in it, or better, give it in the environment (AZURE_CLIENT_SECRET)' },
      )
    }
    if (command === 'exec') {
      return new PgEntraError(
        'INVALID_OPTION',
        `pg-entra exec takes the command after --: unexpected argument '${positional}'`,
        {
          hint: 'e.g. pg-entra exec --host myserver.postgres.database.azure.com -- psql -c "select 1"',
        },
      )
    }
    return new PgEntraError('INVALID_OPTION', `unexpected argument '${positional}': pg-entra ${command} takes none`, {
      hint,
    })
  }
  const ambiguous = /^Option '(--[\w-]+)' argument is ambiguous/.exec(error.message)
  if (ambiguous) {
    const option = ambiguous[1]!
    return new PgEntraError('INVALID_OPTION', `${option} needs a value, and got an option instead`, {
      hint: `give the value after ${option}; one that starts with "-" goes as ${option}=-...`,
    })
  }
  return new PgEntraError('INVALID_OPTION', error.message.replace(/\. To specify a positional.*$/s, ''), { hint })
}

/** The EntraAuthOptions the flags ask for; anything not given is left to the library and the environment. */
export function entraOptionsFrom(values: CredentialValues): EntraAuthOptions {
  const options: EntraAuthOptions = {}
  if (values['tenant-id']) options.tenantId = values['tenant-id']
  if (values['client-secret']) options.clientSecret = values['client-secret']
  if (values['certificate-path']) options.certificatePath = values['certificate-path']
  if (values['certificate-password']) options.certificatePassword = values['certificate-password']
  if (values['federated-token-file']) options.federatedTokenFile = values['federated-token-file']
  if (values['managed-identity'] || values['managed-identity-resource-id']) {
    const resourceId = values['managed-identity-resource-id']
    const clientId = values['client-id']
    options.managedIdentity = resourceId ? { resourceId } : clientId ? { clientId } : true
  } else if (values['client-id']) {
    options.clientId = values['client-id']
  }
  if (values.cloud) {
    if (!clouds.includes(values.cloud as CloudName)) {
      throw new PgEntraError('INVALID_OPTION', `--cloud must be one of ${clouds.join(', ')}, not "${values.cloud}"`, {
        hint: 'leave --cloud out for the public cloud',
      })
    }
    options.cloud = values.cloud as CloudName
  }
  if (values.scope) options.scope = values.scope
  if (values['authority-host']) options.authorityHost = values['authority-host']
  if (values['authority-ca']) options.authorityCa = readPem('--authority-ca', values['authority-ca'])
  return options
}

function readPem(flag: string, path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (error) {
    throw new PgEntraError(
      'INVALID_OPTION',
      `${flag}: cannot read ${path} (${(error as NodeJS.ErrnoException).code})`,
      {
        hint: `give ${flag} the path of a PEM file`,
      },
    )
  }
}
