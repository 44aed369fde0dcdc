// connectEmulator: drive a running emulator from another process through its control API.
import { request } from 'node:http'
import type { Counters, RequestLogEntry } from '../counters/index.js'
import type { Principal } from '../directory/types.js'
import { buildEnv, EmulatorError } from '../env.js'
import type { Knobs } from '../knobs/index.js'
import type { RemoteEmulator } from '../types.js'
import type { WireDescription, WireError, WirePrincipal } from './wire.js'
import { principalFromWire } from './wire.js'

function call<T>(base: URL, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
  return new Promise<T>((resolve, reject) => {
    const req = request(
      new URL(`${base.pathname.replace(/\/$/, '')}${path}`, base),
      {
        method,
        headers: payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {},
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('error', reject)
        res.on('end', () => {
          let parsed: unknown
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'))
          } catch {
            return reject(
              new EmulatorError(
                'CONTROL_PROTOCOL',
                `the control API answered ${res.statusCode} with no JSON`,
                'is the URL a pg-entra-emulator control URL?',
              ),
            )
          }
          if ((res.statusCode ?? 500) >= 400) {
            const { error } = parsed as WireError
            return reject(
              new EmulatorError(
                error?.code ?? 'CONTROL_ERROR',
                error?.message ?? 'control API error',
                error?.hint ?? '',
              ),
            )
          }
          resolve(parsed as T)
        })
      },
    )
    req.on('error', (e) =>
      reject(
        (e as NodeJS.ErrnoException).code === 'ECONNREFUSED'
          ? new EmulatorError(
              'EMULATOR_NOT_RUNNING',
              `the emulator at ${base.origin} is not running (connection refused)`,
              'start one with `pg-entra-emulator start`; exports from an emulator that has stopped are stale',
              { cause: e },
            )
          : new EmulatorError(
              'EMULATOR_UNREACHABLE',
              `cannot reach the emulator's control API at ${base.origin} (${(e as NodeJS.ErrnoException).code ?? e.message})`,
              'start one with `pg-entra-emulator start`, or check PG_ENTRA_EMULATOR_URL',
              { cause: e },
            ),
      ),
    )
    req.end(payload)
  })
}

export async function connectEmulator(controlUrl: string): Promise<RemoteEmulator> {
  let base: URL
  try {
    base = new URL(controlUrl)
  } catch (e) {
    throw new EmulatorError(
      'INVALID_CONTROL_URL',
      `not a URL: "${controlUrl}"`,
      'use the controlUrl the emulator printed',
      { cause: e },
    )
  }
  if (base.protocol !== 'http:') {
    throw new EmulatorError(
      'INVALID_CONTROL_URL',
      `the control URL must be http:, got ${base.protocol}`,
      'use the controlUrl the emulator printed',
    )
  }
  const described = await call<WireDescription>(base, 'GET', '/describe')
  const { principals: wirePrincipals, knobs: initialKnobs, ...description } = described
  const pg = { ...description.pg }
  Object.defineProperty(pg, 'adminPassword', { value: described.pg.adminPassword, enumerable: false })
  let principals: Principal[] = wirePrincipals.map(principalFromWire)
  let knobs: Knobs = initialKnobs

  const remote: RemoteEmulator = {
    ...description,
    pg,
    get principals() {
      return principals
    },
    principal(name) {
      const found = principals.find((p) => p.name.toLowerCase() === name.toLowerCase())
      if (!found) {
        throw new EmulatorError(
          'PRINCIPAL_NOT_FOUND',
          `no principal named "${name}" (as of the last addPrincipal)`,
          `known: ${principals.map((p) => p.name).join(', ')}`,
        )
      }
      return found
    },
    async addPrincipal(spec) {
      const added = await call<{ principal: WirePrincipal; principals: WirePrincipal[] }>(base, 'POST', '/principals', {
        spec,
      })
      principals = added.principals.map(principalFromWire)
      return principalFromWire(added.principal)
    },
    async createPasswordRole(name, password) {
      await call(base, 'POST', '/password-roles', { name, password })
    },
    async token(principal, opts = {}) {
      return (await call<{ token: string }>(base, 'POST', '/token', { principal, opts })).token
    },
    async mintToken(claims, opts = {}) {
      return (await call<{ token: string }>(base, 'POST', '/mint', { claims, opts })).token
    },
    env: (opts) => buildEnv(remote, principals, opts),
    knobs: {
      get: () => structuredClone(knobs),
      async set(patch) {
        knobs = await call<Knobs>(base, 'POST', '/knobs', { patch })
      },
      async failNext(failure) {
        knobs = await call<Knobs>(base, 'POST', '/knobs/fail-next', { failure })
      },
      async reset(scope = {}) {
        knobs = await call<Knobs>(base, 'POST', '/knobs/reset', { scope })
      },
    },
    counters: () => call<Counters>(base, 'GET', '/counters'),
    requestLog: () => call<RequestLogEntry[]>(base, 'GET', '/request-log'),
  }
  return remote
}
