// Run-time behaviour of the emulator's token endpoints: lifetimes, refresh_in, latency and injected failures.
// Tests that share one emulator scope what they change to their own principal.
import { EmulatorError } from '../errors.js'

export interface PrincipalKnobs {
  tokenLifetimeSeconds?: number
  refreshInSeconds?: number
  latencyMs?: number
  /** user tokens at least this long (characters), padded with group object ids as tokens with many groups are */
  userTokenLength?: number
}

export interface Knobs {
  /** unset: Azure's per-kind lifetimes (managed identity 24 h with refresh_in at half, others 3599 s) */
  tokenLifetimeSeconds?: number
  /** user tokens at least this long (characters); real ones with many groups reach about 7,000 */
  userTokenLength?: number
  /** when set, token responses carry refresh_in */
  refreshInSeconds?: number
  latencyMs: number
  /** overrides by principal name */
  principals: Record<string, PrincipalKnobs>
}

export type FailureMode = 500 | 503 | 429 | 'hang' | 'reset' | 'malformed' | 'wrong-audience'

export interface FailNextOptions {
  /** how many requests fail; default 1 */
  count?: number
  mode: FailureMode
  /** 429 only; default 1 */
  retryAfterSeconds?: number
  /** only token requests of this principal (by name) fail; default any */
  principal?: string
}

export interface PendingFailure {
  mode: FailureMode
  retryAfterSeconds: number
  principal?: string
  remaining: number
}

export interface EffectiveKnobs {
  /** unset: the principal kind's default */
  tokenLifetimeSeconds?: number
  userTokenLength?: number
  refreshInSeconds?: number
  latencyMs: number
}

export interface KnobsState {
  get(): Knobs
  set(patch: Partial<Knobs>): void
  failNext(options: FailNextOptions): void
  /**
   * Back to the values the emulator started with and no pending failures; with a principal, only that principal's
   * overrides and the failures scoped to it (what a test sharing the emulator should use).
   */
  reset(scope?: { principal?: string }): void
  /** what applies to a request for this principal (undefined: not identified) */
  effective(principal: string | undefined): EffectiveKnobs
  /** consumes one pending failure that applies to this principal, if any */
  takeFailure(principal: string | undefined): PendingFailure | undefined
  pendingFailures(): PendingFailure[]
}

const FAILURE_MODES: readonly FailureMode[] = [500, 503, 429, 'hang', 'reset', 'malformed', 'wrong-audience']

export class KnobsError extends EmulatorError {
  constructor(message: string) {
    super('INVALID_KNOB', message, 'see the Knobs section of the pg-entra-emulator README')
  }
}

function checkSeconds(name: string, value: unknown, { allowZero = false } = {}): void {
  if (value === undefined) return
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new KnobsError(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${String(value)}`)
  }
}

function checkPrincipalKnobs(prefix: string, k: PrincipalKnobs): void {
  checkSeconds(`${prefix}tokenLifetimeSeconds`, k.tokenLifetimeSeconds)
  checkSeconds(`${prefix}refreshInSeconds`, k.refreshInSeconds)
  checkSeconds(`${prefix}latencyMs`, k.latencyMs, { allowZero: true })
  checkSeconds(`${prefix}userTokenLength`, k.userTokenLength, { allowZero: true })
  if (k.userTokenLength !== undefined && k.userTokenLength > MAX_USER_TOKEN_LENGTH) {
    throw new KnobsError(`${prefix}userTokenLength must be at most ${MAX_USER_TOKEN_LENGTH}, got ${k.userTokenLength}`)
  }
}

const MAX_USER_TOKEN_LENGTH = 32_000

export function createKnobs(initial: { tokenLifetimeSeconds?: number; refreshInSeconds?: number } = {}): KnobsState {
  const start: Knobs = {
    ...(initial.tokenLifetimeSeconds === undefined ? {} : { tokenLifetimeSeconds: initial.tokenLifetimeSeconds }),
    latencyMs: 0,
    principals: {},
    ...(initial.refreshInSeconds === undefined ? {} : { refreshInSeconds: initial.refreshInSeconds }),
  }
  checkPrincipalKnobs('', start)
  let knobs: Knobs = structuredClone(start)
  let failures: PendingFailure[] = []

  return {
    get: () => structuredClone(knobs),
    set(patch) {
      checkPrincipalKnobs('', patch)
      for (const [name, k] of Object.entries(patch.principals ?? {})) checkPrincipalKnobs(`principals.${name}.`, k)
      const principals = { ...knobs.principals }
      for (const [name, k] of Object.entries(patch.principals ?? {})) principals[name] = { ...principals[name], ...k }
      knobs = { ...knobs, ...patch, principals }
      for (const key of ['refreshInSeconds', 'tokenLifetimeSeconds', 'userTokenLength'] as const) {
        if (key in patch && patch[key] === undefined) delete knobs[key]
      }
    },
    failNext(options) {
      if (!FAILURE_MODES.includes(options.mode)) {
        throw new KnobsError(`failNext mode must be one of ${FAILURE_MODES.join(', ')}, got ${String(options.mode)}`)
      }
      const count = options.count ?? 1
      if (!Number.isInteger(count) || count < 1) throw new KnobsError(`failNext count must be a positive integer`)
      checkSeconds('retryAfterSeconds', options.retryAfterSeconds, { allowZero: true })
      failures.push({
        mode: options.mode,
        retryAfterSeconds: options.retryAfterSeconds ?? 1,
        remaining: count,
        ...(options.principal === undefined ? {} : { principal: options.principal }),
      })
    },
    reset(scope) {
      const principal = scope?.principal
      if (principal === undefined) {
        knobs = structuredClone(start)
        failures = []
        return
      }
      const { [principal]: _dropped, ...others } = knobs.principals
      knobs = { ...knobs, principals: others }
      failures = failures.filter((f) => f.principal !== principal)
    },
    effective(principal) {
      const own = principal === undefined ? undefined : knobs.principals[principal]
      const refreshIn = own?.refreshInSeconds ?? knobs.refreshInSeconds
      const lifetime = own?.tokenLifetimeSeconds ?? knobs.tokenLifetimeSeconds
      const userTokenLength = own?.userTokenLength ?? knobs.userTokenLength
      return {
        latencyMs: own?.latencyMs ?? knobs.latencyMs,
        ...(lifetime === undefined ? {} : { tokenLifetimeSeconds: lifetime }),
        ...(refreshIn === undefined ? {} : { refreshInSeconds: refreshIn }),
        ...(userTokenLength === undefined ? {} : { userTokenLength }),
      }
    },
    takeFailure(principal) {
      const failure = failures.find((f) => f.principal === undefined || f.principal === principal)
      if (!failure) return undefined
      failure.remaining--
      if (failure.remaining === 0) failures = failures.filter((f) => f !== failure)
      return { ...failure }
    },
    pendingFailures: () => failures.map((f) => ({ ...f })),
  }
}
