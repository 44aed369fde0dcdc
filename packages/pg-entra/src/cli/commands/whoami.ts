import { entraAuth } from '../../auth/entra-auth.js'
import { credentialHelp, credentialOptions, entraOptionsFrom, parseCommandArgs } from '../args.js'
import type { Command } from '../command.js'
import { createRoleSql, groupsLine, identityJson, kindLabels } from '../identity-view.js'
import { formatDuration, formatTime } from '../output.js'

const help = `Usage: pg-entra whoami [options]

Shows the identity behind the token (kind, name, object id, tenant, expiry), the database role it connects as,
and the SQL an Entra admin runs on Azure (in the postgres database) to create that role.

Options:
  --user <role>                 the role to connect as (default: PGUSER, else the name in the token; a service
                                principal's token carries none)
  --json                        print the same as JSON
  --help                        show this help

${credentialHelp}

Examples:
  pg-entra whoami
  pg-entra whoami --user orders-api --tenant-id 72f9... --client-id 1b2c...   (secret in AZURE_CLIENT_SECRET)
  pg-entra whoami --managed-identity --json`

export const whoamiCommand: Command = {
  name: 'whoami',
  summary: 'show the identity behind the token and the role it connects as',
  help,
  async run(args, { output, env }) {
    const { values } = parseCommandArgs('whoami', {
      args,
      options: { ...credentialOptions, user: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } },
    })
    if (values.help) {
      output.line(help)
      return 0
    }
    const auth = entraAuth(entraOptionsFrom(values))
    try {
      const identity = await auth.identity()
      const role = values.user ?? (env.PGUSER || undefined) ?? identity.databaseUser
      const sql = createRoleSql(identity, role)
      if (values.json) {
        output.json({ ...identityJson(identity), role: role ?? null, createRoleSql: sql ?? null, scope: auth.scope })
        return 0
      }
      const { bold, dim } = output.out
      const rows: [string, string | undefined][] = [
        ['kind', kindLabels[identity.kind]],
        ['name', identity.displayName ?? dim('(none in the token)')],
        ['object id', identity.objectId],
        ['app id', identity.appId],
        ['tenant', identity.tenantId],
        ['managed identity', identity.managedIdentityResourceId],
        [
          'expires',
          identity.expiresOn === undefined
            ? undefined
            : `${formatTime(identity.expiresOn)} (in ${formatDuration(identity.expiresOn - Date.now())})`,
        ],
        ['groups', groupsLine(identity)],
        ['scope', auth.scope],
        [
          'database role',
          role ?? dim('(not in the token: choose one and pass it as the user, e.g. --user my-app or PGUSER)'),
        ],
      ]
      for (const [label, value] of rows) if (value !== undefined) output.line(`${label.padEnd(17)}${value}`)
      if (sql) {
        output.line()
        output.line(bold('Create the role on Azure (as an Entra admin, connected to the postgres database):'))
        output.line(`  ${sql}`)
      }
      if (identity.groups.length > 0) {
        output.line()
        output.line(
          `A member of a group may also connect as that group's role with this token: user=<the group's role>, created with ${dim("pgaadauth_create_principal('<group name>', false, false)")}.`,
        )
      }
      return 0
    } finally {
      await auth.close()
    }
  },
}
