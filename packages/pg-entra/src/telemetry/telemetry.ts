import { isPgEntraError } from '../errors/pg-entra-error.js'
import type { AccessTokenLike, LeaseOutcome, StoreOperation, TokenSourceInstrumentation } from './instrumentation.js'
import { ATTRIBUTES, INSTRUMENTS, METER_NAME, SPANS, TOKEN_REQUEST_BUCKETS } from './names.js'
import {
  type Attributes,
  type CounterLike,
  type HistogramLike,
  loadOpenTelemetry,
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
  /** Stops reporting the gauge. */
  close(): void
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
 * package is imported asynchronously when this is created; until it has loaded, token requests and store calls wait
 * for it (once), so that the first request is recorded too. Nothing here throws into token delivery.
 */
export function createTelemetry(option: TelemetryOption | undefined, subject: TelemetrySubject): Telemetry {
  const base: Attributes = { [ATTRIBUTES.identityKind]: subject.identityKind }
  if (subject.tenantId) base[ATTRIBUTES.tenantId] = subject.tenantId
  const storeAttributes: Attributes = { ...base, [ATTRIBUTES.store]: subject.store }

  let instruments: Instruments | undefined
  let closed = false
  let observer: ((result: ObservableResultLike) => void) | undefined
  const ready: Promise<Instruments | undefined> =
    option === false
      ? Promise.resolve(undefined)
      : loadOpenTelemetry().then((api) => {
          if (!api || closed) return undefined
          instruments = safely(() => makeInstruments(api, option || {}))
          if (instruments && observer) instruments.timeToExpiry.addCallback(observer)
          return instruments
        })

  const instrumentation: TokenSourceInstrumentation = {
    async tokenRequest<T extends AccessTokenLike>(request: () => Promise<T>): Promise<T> {
      const made = instruments ?? (await ready)
      if (!made) return request()
      const started = performance.now()
      return made.tracer.startActiveSpan(
        SPANS.tokenRequest,
        { kind: SPAN_KIND_CLIENT, attributes: base },
        async (span) => {
          try {
            const token = await request()
            safely(() => made.requestDuration.record(secondsSince(started), base))
            return token
          } catch (error) {
            const type = errorType(error)
            safely(() => {
              made.requestDuration.record(secondsSince(started), { ...base, [ATTRIBUTES.errorType]: type })
              markFailed(span, error, type)
            })
            throw error
          } finally {
            safely(() => span.end())
          }
        },
      )
    },

    async storeCall<T>(operation: StoreOperation, call: () => Promise<T>): Promise<T> {
      const made = instruments ?? (await ready)
      if (!made) return call()
      return made.tracer.startActiveSpan(
        `${SPANS.cachePrefix}${operation}`,
        { kind: SPAN_KIND_CLIENT, attributes: storeAttributes },
        async (span) => {
          try {
            const value = await call()
            if (operation === 'get') {
              const result = value === undefined || value === null ? 'miss' : 'hit'
              safely(() => {
                span.setAttribute(ATTRIBUTES.cacheResult, result)
                made.cacheLookups.add(1, { ...storeAttributes, [ATTRIBUTES.cacheResult]: result })
              })
            }
            return value
          } catch (error) {
            const type = errorType(error)
            safely(() => {
              if (operation === 'get') {
                span.setAttribute(ATTRIBUTES.cacheResult, 'error')
                made.cacheLookups.add(1, { ...storeAttributes, [ATTRIBUTES.cacheResult]: 'error' })
              }
              markFailed(span, error, type)
            })
            throw error
          } finally {
            safely(() => span.end())
          }
        },
      )
    },

    leaseOutcome(outcome: LeaseOutcome): void {
      safely(() => instruments?.leaseOutcomes.add(1, { ...storeAttributes, [ATTRIBUTES.leaseOutcome]: outcome }))
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
      safely(() => instruments?.timeToExpiry.addCallback(observer!))
    },
    loginRefused: (attempt) => login('loginRefused', attempt),
    loginRetried: (attempt) => login('loginRetried', attempt),
    close() {
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
