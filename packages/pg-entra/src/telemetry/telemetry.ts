import { isPgEntraError } from '../errors/pg-entra-error.js'
import type { AccessTokenLike, LeaseOutcome, StoreOperation, TokenSourceInstrumentation } from './instrumentation.js'
import { ATTRIBUTES, INSTRUMENTS, METER_NAME, SPANS, TOKEN_REQUEST_BUCKETS } from './names.js'
import {
  type Attributes,
  type CounterLike,
  type HistogramLike,
  loadedOpenTelemetry,
  loadOpenTelemetry,
  loadOpenTelemetrySoon,
  type MeterProviderLike,
  type ObservableGaugeLike,
  type ObservableResultLike,
  type OpenTelemetryApi,
  SPAN_KIND_CLIENT,
  SPAN_STATUS_ERROR,
  type SpanLike,
  type TracerLike,
  type TracerProviderLike,
} from './otel-api.js'

/** Without providers given, @opentelemetry/api is imported this long after the first EntraAuth is made. */
export const AUTO_IMPORT_DELAY_MS = 1_000

/** The `telemetry` option: `false` turns it off; providers replace the global ones registered with @opentelemetry/api. */
export type TelemetryOption = false | { meterProvider?: MeterProviderLike; tracerProvider?: TracerProviderLike }

/** Who the telemetry is about; only names and ids, never a secret. */
export interface TelemetrySubject {
  /** The credential's kind (clientSecret, managedIdentity, ...). */
  identityKind: string
  tenantId: string | undefined
  /** The token store's kind (memory, file, redis). */
  store: string
}

export interface LoginAttempt {
  /** The SQLSTATE the server refused the login with (28P01, 28000). */
  sqlState: string
}

export interface Telemetry {
  readonly instrumentation: TokenSourceInstrumentation
  /** Reports the held token's expiry (epoch ms, undefined when none) through the time-to-expiry gauge. */
  observeTokenExpiry(expiresOn: () => number | undefined, now: () => number): void
  loginRefused(attempt: LoginAttempt): void
  loginRetried(attempt: LoginAttempt): void
  /** Hands any record still waiting for @opentelemetry/api to it, then stops reporting the gauge. */
  close(): Promise<void>
}

interface Instruments {
  tracer: TracerLike
  requestDuration: HistogramLike
  timeToExpiry: ObservableGaugeLike
  cacheLookups: CounterLike
  leaseOutcomes: CounterLike
  loginRefused: CounterLike
  loginRetried: CounterLike
}

/**
 * Metrics and spans for one EntraAuth, through @opentelemetry/api when it is installed (and not turned off). The
 * package is imported asynchronously (at once when providers are given, AUTO_IMPORT_DELAY_MS later otherwise); token
 * requests and store calls never wait for it: those that complete before it has loaded are recorded afterwards, with
 * their own start and end times. Nothing here throws into token delivery.
 */
export function createTelemetry(option: TelemetryOption | undefined, subject: TelemetrySubject): Telemetry {
  const base: Attributes = { [ATTRIBUTES.identityKind]: subject.identityKind }
  if (subject.tenantId) base[ATTRIBUTES.tenantId] = subject.tenantId
  const storeAttributes: Attributes = { ...base, [ATTRIBUTES.store]: subject.store }

  let instruments: Instruments | undefined
  let closed = false
  let observer: ((result: ObservableResultLike) => void) | undefined
  const adopt = (api: OpenTelemetryApi | undefined): Instruments | undefined => {
    if (!api || closed || option === false) return undefined
    instruments ??= safely(() => makeInstruments(api, option ?? {}))
    if (instruments && observer) safely(() => instruments?.timeToExpiry.addCallback(observer!))
    return instruments
  }
  // Providers given: the application wants telemetry now. By default, the API is imported a little later (off the
  // start-up path) unless something has imported it already; what happens meanwhile is recorded once it has loaded.
  const already = loadedOpenTelemetry()
  if (option !== false && already) adopt(already.api)
  const soon = option === undefined && !already ? loadOpenTelemetrySoon(AUTO_IMPORT_DELAY_MS) : undefined
  const ready: Promise<Instruments | undefined> =
    option === false
      ? Promise.resolve(undefined)
      : already
        ? Promise.resolve(instruments)
        : (soon ? soon.api : loadOpenTelemetry()).then(adopt)
  /** Records made before the API loaded, still to be handed to it: close() waits for them rather than drop them. */
  let unrecorded = 0

  /**
   * Runs `call` inside a span named `name`, then `record`s its outcome. Once @opentelemetry/api has loaded the span is
   * the active one (so spans the credential makes nest under it); before that, the call is not delayed: the span is
   * recorded afterwards with the call's own start and end times.
   */
  async function measured<T>(
    name: string,
    attributes: Attributes,
    call: () => Promise<T>,
    record: (made: Instruments, span: SpanLike, outcome: Outcome<T>) => void,
  ): Promise<T> {
    const made = instruments
    if (made) {
      return made.tracer.startActiveSpan(name, { kind: SPAN_KIND_CLIENT, attributes }, async (span) => {
        const started = performance.now()
        const outcome = await settle(call)
        safely(() => record(made, span, { ...outcome, seconds: secondsSince(started) }))
        safely(() => span.end())
        return unwrap(outcome)
      })
    }
    const startTime = Date.now()
    const started = performance.now()
    const outcome = await settle(call)
    const seconds = secondsSince(started)
    const endTime = Date.now()
    unrecorded++
    void ready.then((late) => {
      unrecorded--
      if (!late) return
      safely(() => {
        const span = late.tracer.startSpan(name, { kind: SPAN_KIND_CLIENT, attributes, startTime })
        record(late, span, { ...outcome, seconds })
        span.end(endTime)
      })
    })
    return unwrap(outcome)
  }

  const instrumentation: TokenSourceInstrumentation = {
    tokenRequest<T extends AccessTokenLike>(request: () => Promise<T>): Promise<T> {
      return measured(SPANS.tokenRequest, base, request, (made, span, outcome) => {
        if (outcome.ok) {
          made.requestDuration.record(outcome.seconds, base)
          return
        }
        const type = errorType(outcome.error)
        made.requestDuration.record(outcome.seconds, { ...base, [ATTRIBUTES.errorType]: type })
        markFailed(span, outcome.error, type)
      })
    },

    storeCall<T>(operation: StoreOperation, call: () => Promise<T>): Promise<T> {
      return measured(`${SPANS.cachePrefix}${operation}`, storeAttributes, call, (made, span, outcome) => {
        if (operation === 'get') {
          const result = !outcome.ok ? 'error' : outcome.value === undefined || outcome.value === null ? 'miss' : 'hit'
          span.setAttribute(ATTRIBUTES.cacheResult, result)
          made.cacheLookups.add(1, { ...storeAttributes, [ATTRIBUTES.cacheResult]: result })
        }
        if (!outcome.ok) markFailed(span, outcome.error, errorType(outcome.error))
      })
    },

    leaseOutcome(outcome: LeaseOutcome): void {
      const attributes = { ...storeAttributes, [ATTRIBUTES.leaseOutcome]: outcome }
      if (instruments) safely(() => instruments?.leaseOutcomes.add(1, attributes))
      else void ready.then((late) => safely(() => late?.leaseOutcomes.add(1, attributes)))
    },
  }

  const login = (counter: 'loginRefused' | 'loginRetried', attempt: LoginAttempt): void => {
    safely(() => instruments?.[counter].add(1, { ...base, [ATTRIBUTES.sqlState]: String(attempt.sqlState) }))
  }

  return {
    instrumentation,
    observeTokenExpiry(expiresOn, now) {
      observer = (result) => {
        const at = expiresOn()
        if (at !== undefined) result.observe(Math.max(0, (at - now()) / 1000), base)
      }
      const registered = observer
      safely(() => instruments?.timeToExpiry.addCallback(registered))
    },
    loginRefused: (attempt) => login('loginRefused', attempt),
    loginRetried: (attempt) => login('loginRetried', attempt),
    async close() {
      // A short process (a CLI, a job) closes before the deferred import: its records go to the providers now.
      if (unrecorded > 0 && !closed) {
        soon?.now()
        await ready
      }
      closed = true
      if (observer) {
        const registered = observer
        safely(() => instruments?.timeToExpiry.removeCallback(registered))
      }
      observer = undefined
    },
  }
}

function makeInstruments(api: OpenTelemetryApi, option: Exclude<TelemetryOption, false>): Instruments {
  const meter = (option.meterProvider ?? api.metrics.getMeterProvider()).getMeter(METER_NAME)
  const tracer = (option.tracerProvider ?? api.trace.getTracerProvider()).getTracer(METER_NAME)
  return {
    tracer,
    requestDuration: meter.createHistogram(INSTRUMENTS.tokenRequestDuration, {
      description: 'Duration of token requests to the credential (Entra ID), successful or not',
      unit: 's',
      advice: { explicitBucketBoundaries: TOKEN_REQUEST_BUCKETS },
    }),
    timeToExpiry: meter.createObservableGauge(INSTRUMENTS.tokenTimeToExpiry, {
      description: 'Time left before the held access token expires',
      unit: 's',
    }),
    cacheLookups: meter.createCounter(INSTRUMENTS.cacheLookups, {
      description: 'Reads of the shared token store, by result (hit, miss, error)',
      unit: '{lookup}',
    }),
    leaseOutcomes: meter.createCounter(INSTRUMENTS.leaseOutcomes, {
      description: 'Attempts to become the one process that refreshes a shared token, by outcome',
      unit: '{lease}',
    }),
    loginRefused: meter.createCounter(INSTRUMENTS.loginRefused, {
      description: 'Logins the database refused while a token was used as the password',
      unit: '{login}',
    }),
    loginRetried: meter.createCounter(INSTRUMENTS.loginRetried, {
      description: 'Refused logins retried once with a fresh token',
      unit: '{login}',
    }),
  }
}

/** A PgEntraError's code, else the error's class name: never its message, which may quote what it failed on. */
function errorType(error: unknown): string {
  if (isPgEntraError(error)) return error.code
  if (error instanceof Error) return error.name
  return '_OTHER'
}

function markFailed(span: SpanLike, error: unknown, type: string): void {
  span.setAttribute(ATTRIBUTES.errorType, type)
  // PgEntraError messages never carry a secret (by contract); anything else is named by its type only.
  span.setStatus({ code: SPAN_STATUS_ERROR, message: isPgEntraError(error) ? error.message : type })
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown }
type Outcome<T> = Settled<T> & { seconds: number }

async function settle<T>(call: () => Promise<T>): Promise<Settled<T>> {
  try {
    return { ok: true, value: await call() }
  } catch (error) {
    return { ok: false, error }
  }
}

function unwrap<T>(outcome: Settled<T>): T {
  if (outcome.ok) return outcome.value
  throw outcome.error
}

function secondsSince(started: number): number {
  return (performance.now() - started) / 1000
}

function safely<T>(fn: () => T): T | undefined {
  try {
    return fn()
  } catch {
    // Telemetry must never break token delivery.
    return undefined
  }
}
