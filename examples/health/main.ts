// A readiness endpoint for Kubernetes or App Service with pg-entra's auth.health(): run against Azure, or
// pg-entra-emulator with the environment it prints:
//   npx tsx examples/health/main.ts
// GET /healthz/ready answers 200 while the app holds a usable token (or has not needed one yet), 503 once a token
// request failed and nothing usable is left; the JSON body says how long the token has left and the last error.
// GET /healthz/live always answers 200 (the process runs); GET / runs a query. Credential and connection come from the
// environment (AZURE_*, IDENTITY_ENDPOINT, PG*); PORT (default 8080) and HOST (default 127.0.0.1; in a container,
// 0.0.0.0) say where to listen.
import { createServer, type ServerResponse } from 'node:http'
import { entraAuth, type Health } from 'pg-entra'
import { createPool } from 'pg-entra/pg'

const auth = entraAuth() // credential from the environment
const pool = createPool({ entra: auth, max: 4, idleTimeoutMillis: 1_000 })
pool.on('error', (error) => console.error(`idle connection lost: ${error.message}`))

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' })
  res.end(JSON.stringify(body))
}

/** The health as a probe's log shows it: times as ISO strings. Never the token. */
function view(health: Health) {
  const iso = (at: number | undefined) => (at === undefined ? undefined : new Date(at).toISOString())
  return {
    ready: health.ready,
    tokenExpiresOn: iso(health.tokenExpiresOn),
    tokenExpiresInMs: health.tokenExpiresInMs,
    refreshAt: iso(health.refreshAt),
    lastError: health.lastError && { ...health.lastError, at: iso(health.lastError.at) },
    consecutiveFailures: health.consecutiveFailures,
  }
}

async function readiness(): Promise<Health> {
  const health = auth.health()
  if (health.ready) return health
  // health() never fetches. A pod taken out of service gets no traffic, so the probe asks for a token itself: that
  // retries Entra (pg-entra's backoff applies, so a probe every few seconds does not hammer it) and lets it recover.
  await auth.token().catch(() => {})
  return auth.health()
}

const server = createServer((req, res) => {
  const route = req.url?.split('?')[0]
  const handle = async () => {
    if (route === '/healthz/ready') {
      const health = await readiness()
      send(res, health.ready ? 200 : 503, view(health))
    } else if (route === '/healthz/live') {
      send(res, 200, { live: true })
    } else if (route === '/') {
      const { rows } = await pool.query<{ user: string }>('select current_user as user')
      send(res, 200, { user: rows[0]!.user })
    } else {
      send(res, 404, { error: 'not found' })
    }
  }
  handle().catch((error: unknown) => {
    const { code, message } = error as { code?: string; message?: string }
    send(res, 503, { error: code ?? 'ERROR', message })
  })
})

// Fetch the first token at start-up, so that the first probe already reflects Entra.
await auth.token().catch((error: unknown) => console.error(`first token request failed: ${(error as Error).message}`))

const port = Number(process.env.PORT ?? 8080)
server.listen(port, process.env.HOST ?? '127.0.0.1', () => {
  const address = server.address()
  console.log(JSON.stringify({ listening: typeof address === 'object' && address ? address.port : port }))
})

const stop = () => {
  server.close()
  void pool.end().then(() => auth.close())
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
