// Checks the URL prisma.config.ts gives the Prisma CLI, without the CLI's native schema engine: loads the config the
// way the CLI does (@prisma/config), reads the URL as the schema engine does (`sslmode=require` verified unless
// `sslaccept=accept_invalid_certs`, `sslcert` the root certificate), connects with it through pg, and prints one JSON
// line (never the URL: it holds a token). Run from anywhere: `npx tsx examples/prisma/check-cli-url.ts`.
import { readFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { checkServerIdentity, type PeerCertificate } from 'node:tls'
import { fileURLToPath } from 'node:url'
import { loadConfigFromFile } from '@prisma/config'
import pg from 'pg'

const loaded = await loadConfigFromFile({ configRoot: dirname(fileURLToPath(import.meta.url)) })
if (loaded.error) throw new Error(`prisma.config.ts did not load: ${loaded.error._tag}`)
const url = loaded.config.datasource?.url
if (!url) throw new Error('prisma.config.ts gave no datasource url')

const parsed = new URL(url)
const params = parsed.searchParams
const rootCertPath = params.get('sslcert')
const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1')
let certificateVerified = false
const client = new pg.Client({
  host,
  port: Number(parsed.port || 5432),
  user: decodeURIComponent(parsed.username),
  password: decodeURIComponent(parsed.password),
  database: decodeURIComponent(parsed.pathname.slice(1)),
  ssl:
    params.get('sslmode') === 'disable'
      ? false
      : {
          rejectUnauthorized: params.get('sslaccept') !== 'accept_invalid_certs',
          ...(rootCertPath ? { ca: readFileSync(rootCertPath) } : {}),
          // Node calls this only once the chain has verified; it then checks the name
          checkServerIdentity(name: string, certificate: PeerCertificate) {
            const mismatch = checkServerIdentity(name, certificate)
            certificateVerified = mismatch === undefined
            return mismatch
          },
        },
})
await client.connect()
try {
  const { rows } = await client.query<{ user: string }>('select current_user as user')
  console.log(
    JSON.stringify({
      user: rows[0]?.user,
      certificateVerified,
      sslmode: params.get('sslmode'),
      sslaccept: params.get('sslaccept'),
      sslcert: rootCertPath,
    }),
  )
} finally {
  await client.end()
}
