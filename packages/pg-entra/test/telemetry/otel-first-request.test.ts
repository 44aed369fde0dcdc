// The first token request of a process can complete before @opentelemetry/api has finished loading (it is imported
// asynchronously, so that it never delays a token): it is still recorded, with its own timing. This file runs in
// its own process, where nothing has loaded the API before.
import { describe, expect, it } from 'vitest'
import { entraAuth } from '../../src/auth/entra-auth.js'
import { loadOpenTelemetry } from '../../src/telemetry/otel-api.js'
import { otelCapture } from './_otel.js'

describe('the first token request of a process', () => {
  it('is recorded once @opentelemetry/api has loaded, without waiting for it', async () => {
    const otel = otelCapture()
    let calls = 0
    const credential = {
      getToken: async () => ({ token: `first-token-${++calls}`, expiresOnTimestamp: Date.now() + 3_600_000 }),
    }
    const auth = entraAuth({
      credential,
      telemetry: { meterProvider: otel.meterProvider, tracerProvider: otel.tracerProvider },
    })
    const token = await auth.token()
    expect(token.token).toBe('first-token-1')

    await loadOpenTelemetry()
    await expect.poll(() => otel.spans().filter((span) => span.name === 'pg_entra.token.request')).toHaveLength(1)
    const [span] = otel.spans().filter((each) => each.name === 'pg_entra.token.request')
    expect(span?.attributes).toEqual({ 'pg_entra.identity.kind': 'given' })
    const duration = await otel.metric('pg_entra.token.request.duration')
    expect(duration?.points).toEqual([
      { attributes: { 'pg_entra.identity.kind': 'given' }, value: 1, sum: expect.any(Number) },
    ])
    expect(await otel.exportedText()).not.toContain(token.token)
    await auth.close()
    await otel.shutdown()
  })
})
