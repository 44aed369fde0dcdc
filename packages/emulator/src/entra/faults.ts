// Applies the knobs to one token request: latency, then an injected failure if one is pending for the principal.
import type { ServerResponse } from 'node:http'
import type { CountersState, RequestLogEntry } from '../counters/index.js'
import type { KnobsState, PendingFailure } from '../knobs/index.js'
import { aadstsBody, sendJson, sleep } from './http.js'

export type FaultOutcome = { handled: true } | { handled: false; wrongAudience: boolean }

/** How the two endpoint families spell a server error. */
export type ErrorShape = 'entra' | 'managed-identity'

function errorBody(shape: ErrorShape, status: number, failure: PendingFailure) {
  const description =
    status === 429
      ? `Request throttled (injected by pg-entra-emulator). Retry after ${failure.retryAfterSeconds} s.`
      : `Service unavailable (injected by pg-entra-emulator: ${status}).`
  if (shape === 'managed-identity') return { error: 'server_error', error_description: description, statusCode: status }
  const code = status === 429 ? 50196 : 50000
  return aadstsBody(status === 503 ? 'temporarily_unavailable' : 'server_error', code, description)
}

export async function applyFaults(args: {
  res: ServerResponse
  principal: string | undefined
  knobs: KnobsState
  counters: CountersState
  entry: RequestLogEntry
  shape: ErrorShape
  /** requests left hanging, ended when the emulator stops */
  hung: Set<ServerResponse>
}): Promise<FaultOutcome> {
  const { res, principal, knobs, counters, entry } = args
  const { latencyMs } = knobs.effective(principal)
  if (latencyMs > 0) {
    entry.latencyMs = latencyMs
    await sleep(latencyMs)
  }
  const failure = knobs.takeFailure(principal)
  if (!failure) return { handled: false, wrongAudience: false }
  entry.injected = String(failure.mode)
  counters.tokenFailure(principal, true)
  switch (failure.mode) {
    case 500:
    case 503:
    case 429: {
      entry.status = failure.mode
      const headers: Record<string, string> =
        failure.mode === 429 ? { 'retry-after': String(failure.retryAfterSeconds) } : {}
      sendJson(res, failure.mode, errorBody(args.shape, failure.mode, failure), headers)
      return { handled: true }
    }
    case 'hang':
      args.hung.add(res)
      res.on('close', () => args.hung.delete(res))
      return { handled: true }
    case 'reset':
      res.socket?.destroy()
      return { handled: true }
    case 'malformed':
      entry.status = 200
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' })
      res.end('{"token_type":"Bearer","access_token":')
      return { handled: true }
    case 'wrong-audience':
      return { handled: false, wrongAudience: true }
  }
}
