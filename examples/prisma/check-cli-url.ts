// Checks the URL prisma.config.ts gives the Prisma CLI, without the CLI's native schema engine: loads the config the
// way the CLI does (@prisma/config), connects with that URL, and prints one JSON line (never the URL: it holds a
// token). Run from anywhere: `npx tsx examples/prisma/check-cli-url.ts`.
import { dirname } from 'node:path'
import type { TLSSocket } from 'node:tls'
import { fileURLToPath } from 'node:url'
import { loadConfigFromFile } from '@prisma/config'
import pg from 'pg'

const loaded = await loadConfigFromFile({ configRoot: dirname(fileURLToPath(import.meta.url)) })
if (loaded.error) throw new Error(`prisma.config.ts did not load: ${loaded.error._tag}`)
const url = loaded.config.datasource?.url
if (!url) throw new Error('prisma.config.ts gave no datasource url')

const client = new pg.Client({ connectionString: url })
await client.connect()
try {
  const { rows } = await client.query<{ user: string }>('select current_user as user')
  // the TLS session as this client sees it (the server side of pg_stat_ssl may be behind a proxy)
  const socket = (client as unknown as { connection: { stream: Partial<TLSSocket> } }).connection.stream
  const params = new URL(url).searchParams
  console.log(
    JSON.stringify({
      user: rows[0]?.user,
      tls: socket.encrypted === true,
      certificateVerified: socket.authorized === true,
      sslmode: params.get('sslmode'),
      sslcert: params.get('sslcert'),
    }),
  )
} finally {
  await client.end()
}
