// The real OpenTelemetry SDK with its in-memory exporters: what pg-entra records, read back as an application's
// exporter would receive it.
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'

export interface PointView {
  attributes: Record<string, unknown>
  /** A counter's or gauge's value; a histogram's count. */
  value: number
  /** A histogram's sum. */
  sum?: number
}

export interface MetricView {
  name: string
  unit: string
  points: PointView[]
}

export interface SpanView {
  name: string
  attributes: Record<string, unknown>
  status: { code: number; message?: string }
}

export interface OtelCapture {
  meterProvider: MeterProvider
  tracerProvider: BasicTracerProvider
  /** Collects every instrument now (observable gauges included) and returns the latest cumulative values. */
  metrics(): Promise<MetricView[]>
  metric(name: string): Promise<MetricView | undefined>
  spans(): SpanView[]
  /** Everything exported, as text: for checking that no secret appears anywhere in it. */
  exportedText(): Promise<string>
  shutdown(): Promise<void>
}

export function otelCapture(): OtelCapture {
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  // A long interval: exports happen only when the test flushes.
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 })
  const meterProvider = new MeterProvider({ readers: [reader] })
  const spanExporter = new InMemorySpanExporter()
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter)] })

  async function metrics(): Promise<MetricView[]> {
    await reader.forceFlush()
    const latest = metricExporter.getMetrics().at(-1)
    if (!latest) return []
    return latest.scopeMetrics.flatMap((scope) =>
      scope.metrics.map((metric) => ({
        name: metric.descriptor.name,
        unit: metric.descriptor.unit,
        points: metric.dataPoints.map((point) => {
          const value = point.value as number | { count: number; sum?: number }
          return typeof value === 'number'
            ? { attributes: { ...point.attributes }, value }
            : { attributes: { ...point.attributes }, value: value.count, sum: value.sum ?? 0 }
        }),
      })),
    )
  }

  function spans(): SpanView[] {
    return spanExporter.getFinishedSpans().map((span) => ({
      name: span.name,
      attributes: { ...span.attributes },
      status: { ...span.status },
    }))
  }

  return {
    meterProvider,
    tracerProvider,
    metrics,
    async metric(name) {
      return (await metrics()).find((metric) => metric.name === name)
    },
    spans,
    async exportedText() {
      await reader.forceFlush()
      const exported = spanExporter.getFinishedSpans().map((span) => ({
        name: span.name,
        attributes: span.attributes,
        status: span.status,
        events: span.events,
        links: span.links,
        resource: span.resource.attributes,
      }))
      return JSON.stringify({ spans: exported, metrics: metricExporter.getMetrics() })
    },
    async shutdown() {
      await meterProvider.shutdown()
      await tracerProvider.shutdown()
    },
  }
}

/** The points of `metric` whose attributes include `match`. */
export function pointsWith(metric: MetricView | undefined, match: Record<string, unknown>): PointView[] {
  return (metric?.points ?? []).filter((point) =>
    Object.entries(match).every(([key, value]) => point.attributes[key] === value),
  )
}
