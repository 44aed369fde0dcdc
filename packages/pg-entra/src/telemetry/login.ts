import type { LoginAttempt, Telemetry } from './telemetry.js'

/** Counts a login the database refused while a token was the password (pg_entra.login.refused). */
export function recordLoginRefused(telemetry: Telemetry | undefined, attempt: LoginAttempt): void {
  telemetry?.loginRefused(attempt)
}

/** Counts a refused login retried once with a fresh token (pg_entra.login.retried). */
export function recordLoginRetried(telemetry: Telemetry | undefined, attempt: LoginAttempt): void {
  telemetry?.loginRetried(attempt)
}
