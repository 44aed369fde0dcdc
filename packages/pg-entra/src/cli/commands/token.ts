import { entraAuth } from '../../auth/entra-auth.js'
import { credentialHelp, credentialOptions, entraOptionsFrom, parseCommandArgs } from '../args.js'
import type { Command } from '../command.js'
import { identityJson } from '../identity-view.js'

const help = `Usage: pg-entra token [options]

Prints an Entra access token for Azure Database for PostgreSQL, and nothing else, so that it can be used as the
password of any client.

Options:
  --json                        print {"token", "expiresOn", "scope", "principal"} instead
  --help                        show this help

${credentialHelp}

Examples:
  PGPASSWORD="$(pg-entra token)" psql "host=myserver.postgres.database.azure.com user=me@contoso.com sslmode=verify-full"
  pg-entra token --json --managed-identity --client-id 1b2c...
  AZURE_TENANT_ID=... AZURE_CLIENT_ID=... AZURE_CLIENT_SECRET=... pg-entra token`

export const tokenCommand: Command = {
  name: 'token',
  summary: 'print an access token, to use as the password',
  help,
  async run(args, { output }) {
    const { values } = parseCommandArgs('token', {
      args,
      options: { ...credentialOptions, json: { type: 'boolean' }, help: { type: 'boolean' } },
    })
    if (values.help) {
      output.line(help)
      return 0
    }
    const auth = entraAuth(entraOptionsFrom(values))
    try {
      const token = await auth.token()
      if (!values.json) {
        output.line(token.token)
        return 0
      }
      output.json({
        token: token.token,
        expiresOn: new Date(token.expiresOnTimestamp).toISOString(),
        scope: auth.scope,
        principal: identityJson(await auth.identity()),
      })
      return 0
    } finally {
      await auth.close()
    }
  },
}
