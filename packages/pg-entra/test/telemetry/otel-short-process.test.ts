// A short process (a CLI, a job, a serverless call) registers global OpenTelemetry providers, gets a token and closes
// its EntraAuth before pg-entra's deferred import of @opentelemetry/api: close() hands the records to the providers
// instead of dropping them. This file runs in its own process, where pg-entra has not loaded the API before.
import { metrics, trace } from '@opentelemetry/api'
import { afterAll, describe, expect, it } from 'vitest'
import { entraAuth } from '../../src/auth/entra-auth.js'
import { loadedOpenTelemetry } from '../../src/telemetry/otel-api.js'
import { otelCapture } from './_otel.js'

const otel = otelCapture()
afterAll(async () => {
  metrics.disable()
  trace.disable()
  await otel.shutdown()
})

function credentialIssuing(prefix: string) {
  let calls = 0
  return {
    getToken: async () => ({ token: `${prefix}-${++calls}`, expiresOnTimestamp: Date.now() + 3_600_000 }),
  }
}

describe('a process that closes its EntraAuth at once', () => {
  it('imports nothing on close when nothing is waiting to be recorded', async () => {
    const auth = entraAuth({ credential: credentialIssuing('unused') })
    await auth.close()
    expect(loadedOpenTelemetry()).toBeUndefined()
  })

  it('records its token request in the global providers by the time close() resolves', async () => {
    expect(metrics.setGlobalMeterProvider(otel.meterProvider)).toBe(true)
    expect(trace.setGlobalTracerProvider(otel.tracerProvider)).toBe(true)
    const auth = entraAuth({ credential: credentialIssuing('short-process-token') })
    const { token } = await auth.token()
    expect(otel.spans()).toEqual([]) // the API is not loaded yet: the record waits
    await auth.close()

    expect(otel.spans().map((span) => span.name)).toContain('pg_entra.token.request')
    const duration = await otel.metric('pg_entra.token.request.duration')
    expect(duration?.points).toEqual([
      { attributes: { 'pg_entra.identity.kind': 'given' }, value: 1, sum: expect.any(Number) },
    ])
    expect(await otel.exportedText()).not.toContain(token)
  })
})
