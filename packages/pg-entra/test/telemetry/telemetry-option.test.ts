// The `telemetry` option is validated up front like every other option: INVALID_OPTION naming it, never its value.
import { describe, expect, it } from 'vitest'
import { entraAuth } from '../../src/auth/entra-auth.js'

const credential = { getToken: async () => ({ token: 't', expiresOnTimestamp: Date.now() + 3_600_000 }) }

describe('the telemetry option', () => {
  it.each([
    ['true', true],
    ['a string', 'on'],
    ['an unknown key', { meter: {} }],
    ['a meterProvider without getMeter()', { meterProvider: {} }],
    ['a tracerProvider without getTracer()', { tracerProvider: { startSpan() {} } }],
  ])('refuses %s', (_label, value) => {
    expect(() => entraAuth({ credential, telemetry: value as never })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', details: { option: 'telemetry' } }),
    )
  })

  it.each([
    ['false', false],
    ['providers', { meterProvider: { getMeter: () => ({}) }, tracerProvider: { getTracer: () => ({}) } }],
    ['no providers (the global ones)', {}],
  ])('accepts %s', async (_label, value) => {
    const auth = entraAuth({ credential, telemetry: value as never })
    expect((await auth.token()).token).toBe('t')
    await auth.close()
  })
})
