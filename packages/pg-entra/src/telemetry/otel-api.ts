// The slice of @opentelemetry/api pg-entra uses, declared structurally so that no type of it leaks into pg-entra's
// own types, and its loader: the package is an optional peer, imported once per process and only when telemetry is on.

export type Attributes = Record<string, string | number | boolean>

export interface SpanLike {
  setAttribute(key: string, value: string | number | boolean): unknown
  setStatus(status: { code: number; message?: string }): unknown
  /** `endTime` in epoch milliseconds. */
  end(endTime?: number): void
}

interface SpanOptions {
  kind?: number
  attributes?: Attributes
  /** Epoch milliseconds. */
  startTime?: number
}

export interface TracerLike {
  startSpan(name: string, options?: SpanOptions): SpanLike
  startActiveSpan<T>(name: string, options: SpanOptions, fn: (span: SpanLike) => T): T
}

export interface TracerProviderLike {
  getTracer(name: string, version?: string): TracerLike
}

export interface CounterLike {
  add(value: number, attributes?: Attributes): void
}

export interface HistogramLike {
  record(value: number, attributes?: Attributes): void
}

export interface ObservableResultLike {
  observe(value: number, attributes?: Attributes): void
}

export interface ObservableGaugeLike {
  addCallback(callback: (result: ObservableResultLike) => void): void
  removeCallback(callback: (result: ObservableResultLike) => void): void
}

interface InstrumentOptions {
  description?: string
  unit?: string
  advice?: { explicitBucketBoundaries?: number[] }
}

export interface MeterLike {
  createCounter(name: string, options?: InstrumentOptions): CounterLike
  createHistogram(name: string, options?: InstrumentOptions): HistogramLike
  createObservableGauge(name: string, options?: InstrumentOptions): ObservableGaugeLike
}

export interface MeterProviderLike {
  getMeter(name: string, version?: string): MeterLike
}

export interface OpenTelemetryApi {
  metrics: { getMeterProvider(): MeterProviderLike }
  trace: { getTracerProvider(): TracerProviderLike }
}

/** SpanKind.CLIENT and SpanStatusCode.ERROR of @opentelemetry/api (stable numbers of its public enums). */
export const SPAN_KIND_CLIENT = 2
export const SPAN_STATUS_ERROR = 2

let loading: Promise<OpenTelemetryApi | undefined> | undefined
let loaded: { api: OpenTelemetryApi | undefined } | undefined

/** @opentelemetry/api, or undefined when it is not installed; imported at most once per process. */
export function loadOpenTelemetry(): Promise<OpenTelemetryApi | undefined> {
  loading ??= import('@opentelemetry/api').then(
    (api) => api as unknown as OpenTelemetryApi,
    () => undefined,
  )
  void loading.then((api) => {
    loaded = { api }
  })
  return loading
}

/** What loadOpenTelemetry() resolved with, once it has (undefined before, or when nothing has asked for it). */
export function loadedOpenTelemetry(): { api: OpenTelemetryApi | undefined } | undefined {
  return loaded
}

/**
 * loadOpenTelemetry(), started only after `delayMs` (on an unref'd timer) unless something has loaded it already, or
 * `now()` is called: importing the API costs tens of milliseconds of CPU, which a process's start-up should not pay
 * for telemetry that nobody may have asked for. A process that exits sooner never imports it.
 */
export function loadOpenTelemetrySoon(delayMs: number): {
  api: Promise<OpenTelemetryApi | undefined>
  now(): void
} {
  if (loading) return { api: loading, now: () => {} }
  let now = () => {}
  const api = new Promise<OpenTelemetryApi | undefined>((resolve) => {
    // loadOpenTelemetry() imports once however often it is called, and a second resolve is ignored
    now = () => {
      clearTimeout(timer)
      resolve(loadOpenTelemetry())
    }
    const timer = setTimeout(now, delayMs)
    timer.unref()
  })
  return { api, now }
}
