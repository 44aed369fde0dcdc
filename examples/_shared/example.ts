// What every example shares: its settings from the environment, the loop that keeps querying for
// EXAMPLE_DURATION_SECONDS, and the one JSON summary line the integration tests read. The examples themselves
// stay as a user would write them; only this bookkeeping lives here.

export interface ExampleSettings {
  /** 0 (the default): one pass. Otherwise keep querying this long. */
  durationSeconds: number
  /** How long a pooled connection lives before the pool replaces it, so new connections open throughout. */
  connectionLifetimeSeconds: number
  /** Pause between two passes of the loop. */
  intervalMs: number
  /** Keep going past the duration until this many passes ran (tests: so that a slow machine still counts enough). */
  minPasses: number
}

export function exampleSettings(env: NodeJS.ProcessEnv = process.env): ExampleSettings {
  return {
    durationSeconds: numberFrom(env, 'EXAMPLE_DURATION_SECONDS', 0),
    connectionLifetimeSeconds: numberFrom(env, 'EXAMPLE_CONNECTION_LIFETIME_SECONDS', 300),
    intervalMs: numberFrom(env, 'EXAMPLE_INTERVAL_MS', 200),
    minPasses: numberFrom(env, 'EXAMPLE_MIN_PASSES', 0),
  }
}

function numberFrom(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number, got "${raw}"`)
  return value
}

/** What one pass reports: the backend process that served it, so that the summary can count connections. */
export interface PassResult {
  backendPid: number
}

export interface ExampleSummary {
  example: string
  queries: number
  failures: number
  /** Distinct PostgreSQL backends that served a pass: the connections the pool opened and used. */
  connectionsOpened: number
  durationSeconds: number
  /** The first few failures, as `code: message` (never a token: drivers do not quote passwords). */
  errors: string[]
  [extra: string]: unknown
}

/**
 * Runs `pass` once, or again and again until `settings.durationSeconds` have elapsed. A failing pass is counted and
 * the loop goes on, so that the summary tells how many queries failed across token rollovers.
 */
export async function runPasses(
  example: string,
  settings: ExampleSettings,
  pass: () => Promise<PassResult>,
): Promise<ExampleSummary> {
  const started = Date.now()
  const deadline = started + settings.durationSeconds * 1000
  const backends = new Set<number>()
  const errors: string[] = []
  let queries = 0
  let failures = 0
  const more = () => Date.now() < deadline || queries < settings.minPasses
  do {
    queries++
    try {
      const { backendPid } = await pass()
      backends.add(backendPid)
    } catch (error) {
      failures++
      if (errors.length < 5) errors.push(describe(error))
    }
    if (more()) await sleep(settings.intervalMs)
  } while (more())
  return {
    example,
    queries,
    failures,
    connectionsOpened: backends.size,
    durationSeconds: Math.round((Date.now() - started) / 100) / 10,
    errors,
  }
}

/** Prints the summary as one JSON line and sets a non-zero exit code when anything failed. */
export function report(summary: ExampleSummary): void {
  console.log(JSON.stringify(summary))
  if (summary.failures > 0 || summary.queries === 0) process.exitCode = 1
}

export function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code
    return `${typeof code === 'string' ? `${code}: ` : ''}${error.message}`
  }
  return String(error)
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
