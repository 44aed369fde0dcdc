// `npm run demo`: pg-entra end to end on one machine. pg-entra-emulator plays Entra ID and an Azure Database for
// PostgreSQL server (embedded PostgreSQL behind a TLS front that checks tokens); a pool connects as a service
// principal with the original backend's options and keeps querying while short-lived tokens roll over underneath.

import { createPool } from 'pg-entra/pg'
import { startEmulator } from 'pg-entra-emulator'

const durationSeconds = numberFromEnv('DEMO_DURATION_SECONDS', 60)
const workers = 4
const pauseMs = 50
const connectionLifetimeSeconds = 8
const tty = process.stdout.isTTY === true && !process.env.NO_COLOR
const paint = (code: number) => (text: string) => (tty ? `\u001b[${code}m${text}\u001b[0m` : text)
const bold = paint(1)
const dim = paint(2)
const green = paint(32)
const red = paint(31)

interface Progress {
  tokens: number
  refreshedAhead: number
  refreshFailures: number
  connections: number
  queries: number
  failures: number
  errors: string[]
  latencies: number[]
  tokenExpiresOn: number | undefined
}

const progress: Progress = {
  tokens: 0,
  refreshedAhead: 0,
  refreshFailures: 0,
  connections: 0,
  queries: 0,
  failures: 0,
  errors: [],
  latencies: [],
  tokenExpiresOn: undefined,
}

let statusShown = false
/** A line of its own; on a terminal it goes above the live status line, which is then drawn again. */
function say(line: string): void {
  if (tty && statusShown) process.stdout.write('\r\u001b[2K')
  process.stdout.write(`${line}\n`)
  statusShown = false
}

function status(elapsedMs: number): string {
  const seconds = Math.floor(elapsedMs / 1000)
  const rate = elapsedMs > 0 ? (progress.queries / (elapsedMs / 1000)).toFixed(0) : '0'
  const left =
    progress.tokenExpiresOn === undefined
      ? '-'
      : `${Math.max(0, Math.round((progress.tokenExpiresOn - Date.now()) / 1000))}s`
  const line =
    `${String(seconds).padStart(3)}s/${durationSeconds}s  tokens ${progress.tokens} (${progress.refreshedAhead} refreshed ahead, ` +
    `current expires in ${left})  connections ${progress.connections}  queries ${progress.queries.toLocaleString('en-US')} ` +
    `(${rate}/s)  failures ${progress.failures}`
  // A redrawn line must not wrap: cut it to the terminal's width.
  return tty && process.stdout.columns ? line.slice(0, process.stdout.columns - 1) : line
}

async function main(): Promise<number> {
  say(bold('pg-entra demo: Entra ID tokens as PostgreSQL passwords, with no Azure account'))
  say(
    dim(
      'Starting pg-entra-emulator (Entra ID over HTTPS, and an Azure-like PostgreSQL front on embedded PostgreSQL)...',
    ),
  )
  const emulator = await startEmulator({ tokenLifetimeSeconds: 25 })
  let stopping = false
  const interrupt = () => {
    stopping = true
  }
  process.once('SIGINT', interrupt)
  try {
    const principal = await emulator.addPrincipal({
      kind: 'servicePrincipal',
      name: 'orders-api',
      role: { name: 'orders_api' },
    })
    say(`  Entra ID      ${emulator.authorityHost} (tenant ${emulator.tenantId})`)
    say(
      `  PostgreSQL    ${emulator.pg.host}:${emulator.pg.port}, TLS with the emulator's CA, tokens checked like Azure`,
    )
    say(`  principal     service principal "orders-api" (app ${principal.appId}), database role "orders_api"`)
    say(
      `                created with pgaadauth_create_principal_with_oid('orders_api', '${principal.objectId}', 'service', false, false)`,
    )
    say('')

    // Tokens live 20 to 30 s here (an hour or more on Azure), so that several roll over while the demo runs.
    const nextLifetime = () => 20 + Math.floor(Math.random() * 11)
    await emulator.knobs.set({ tokenLifetimeSeconds: nextLifetime() })

    // The original backend's three options (SP_TENANT_ID, SP_CLIENT_ID, SP_CLIENT_SECRET); the emulator's authority
    // and CA stand in for login.microsoftonline.com and Azure's public certificates.
    const entra = {
      tenantId: emulator.tenantId,
      clientId: principal.appId!,
      clientSecret: principal.secret!,
      authorityHost: emulator.authorityHost,
      authorityCa: emulator.ca,
      logger: {
        info(_message: string, fields?: Record<string, unknown>) {
          if (fields?.source !== 'credential') return
          const now = Date.now()
          const expiresOn = Date.parse(String(fields.expiresOn))
          const previous = progress.tokenExpiresOn
          progress.tokens++
          progress.tokenExpiresOn = expiresOn
          const lives = Math.round((expiresOn - now) / 1000)
          let how = 'first token'
          if (previous !== undefined && previous > now) {
            progress.refreshedAhead++
            how = `refreshed ahead of expiry, the previous one still had ${Math.round((previous - now) / 1000)} s`
          } else if (previous !== undefined) {
            how = 'fetched after the previous one expired'
          }
          say(`  token #${progress.tokens}  sha256 ${String(fields.fingerprint)}  lives ${lives} s  ${dim(`(${how})`)}`)
          void emulator.knobs.set({ tokenLifetimeSeconds: nextLifetime() }).catch(() => {})
        },
        warn(message: string, fields?: Record<string, unknown>) {
          progress.refreshFailures++
          say(red(`  ${message}${fields?.code ? ` (${String(fields.code)})` : ''}`))
        },
      },
    }
    const pool = createPool({
      host: emulator.pg.host,
      port: emulator.pg.port,
      database: emulator.pg.database,
      user: 'orders_api',
      ssl: { ca: emulator.ca },
      entra,
      max: workers,
      maxLifetimeSeconds: connectionLifetimeSeconds,
    })
    pool.on('connect', () => {
      progress.connections++
    })
    pool.on('error', () => {}) // an idle client's error; the next query reports it

    const firstStarted = performance.now()
    await pool.query('select 1')
    say(
      `  first query   ${(performance.now() - firstStarted).toFixed(0)} ms, including the first token, TLS and the login`,
    )
    say('')
    say(
      `Running ${workers} workers through a pg Pool for ${durationSeconds} s (connections replaced every ${connectionLifetimeSeconds} s, so new ones keep opening):`,
    )
    const started = Date.now()
    const deadline = started + durationSeconds * 1000
    const ticker = startTicker(started)
    const worker = async () => {
      while (!stopping && Date.now() < deadline) {
        const begin = performance.now()
        try {
          await pool.query('select current_user, now()')
          progress.latencies.push(performance.now() - begin)
          progress.queries++
        } catch (error) {
          progress.failures++
          const { code, message } = error as { code?: string; message?: string }
          if (progress.errors.length < 5) progress.errors.push(`${code ?? 'error'}: ${message}`)
        }
        await sleep(pauseMs)
      }
    }
    await Promise.all(Array.from({ length: workers }, worker))
    ticker.stop()
    const elapsedMs = Date.now() - started
    await pool.end()

    const counters = await emulator.counters()
    const issued = counters.tokenRequests.byPrincipal['orders-api']
    const role = counters.pg.byRole.orders_api
    const sorted = [...progress.latencies].sort((a, b) => a - b)
    const quantile = (q: number) =>
      sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : 0
    say('')
    say(bold(`Summary (${(elapsedMs / 1000).toFixed(0)} s)`))
    say(
      `  queries        ${progress.queries.toLocaleString('en-US')} (${(progress.queries / (elapsedMs / 1000)).toFixed(1)}/s), ${progress.failures === 0 ? green('0 failed') : red(`${progress.failures} failed`)}`,
    )
    say(
      `  latency        p50 ${quantile(0.5).toFixed(1)} ms, p99 ${quantile(0.99).toFixed(1)} ms, max ${(sorted.at(-1) ?? 0).toFixed(1)} ms`,
    )
    say(
      `  tokens         ${progress.tokens} fetched, ${progress.refreshedAhead} of them refreshed ahead of expiry, ${progress.refreshFailures} refresh failures`,
    )
    say(`  connections    ${progress.connections} opened by the pool, each asking pg-entra for the current token`)
    const distinct = new Set(role?.tokenIds ?? []).size
    const requests = issued?.requests ?? 0
    say(
      `  emulator saw   ${requests} token request${requests === 1 ? '' : 's'}; ${role?.accepted ?? 0} connections accepted carrying ${distinct} distinct token${distinct === 1 ? '' : 's'}, ${role?.rejected ?? 0} rejected`,
    )
    for (const error of progress.errors) say(red(`  failure: ${error}`))

    say('')
    say(bold('Plain-password fallback (no entra option: the original backend without SP_* settings)'))
    await emulator.createPasswordRole('legacy_app', 'legacy-password')
    const plain = createPool({
      host: emulator.pg.host,
      port: emulator.pg.port,
      database: emulator.pg.database,
      user: 'legacy_app',
      password: 'legacy-password',
      ssl: { ca: emulator.ca },
    })
    let fallbackOk = false
    try {
      const { rows } = await plain.query<{ current_user: string }>('select current_user')
      fallbackOk = rows[0]?.current_user === 'legacy_app'
      say(
        `  role legacy_app with its password, through the same TLS front: select current_user -> ${rows[0]?.current_user}`,
      )
    } catch (error) {
      say(red(`  failed: ${(error as Error).message}`))
    } finally {
      await plain.end()
    }

    const ok = progress.failures === 0 && progress.queries > 0 && fallbackOk
    say('')
    say(ok ? green('Done: every query succeeded while tokens rolled over.') : red('Done, with failures (see above).'))
    return ok ? 0 : 1
  } finally {
    process.removeListener('SIGINT', interrupt)
    await emulator.stop()
  }
}

/** On a terminal, one status line redrawn four times a second; piped, a plain line every few seconds. */
function startTicker(started: number): { stop(): void } {
  const everyMs = tty ? 250 : Math.max(2, Math.min(10, Math.round(durationSeconds / 6))) * 1000
  let lastPrinted = ''
  const show = () => {
    const line = status(Date.now() - started)
    if (tty) {
      process.stdout.write(`\r\u001b[2K${line}`)
      statusShown = true
    } else if (line !== lastPrinted) {
      say(line)
    }
    lastPrinted = line
  }
  const timer = setInterval(show, everyMs)
  return {
    stop() {
      clearInterval(timer)
      show()
      if (tty) {
        process.stdout.write('\n') // the final status stays on screen
        statusShown = false
      }
    },
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function numberFromEnv(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`${name} must be a positive number of seconds, got "${raw}"`)
    process.exit(2)
  }
  return value
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    const { code, message, hint } = error as { code?: string; message?: string; hint?: string }
    console.error(`${code ? `${code}: ` : ''}${message ?? String(error)}`)
    if (hint) console.error(`hint: ${hint}`)
    process.exitCode = 1
  },
)
