// The control API: a loopback HTTP server through which other processes (vitest workers, the CLI) drive a running
// emulator. Its URL carries a random path key; anyone on the machine who knows the URL controls the emulator.
import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { closeServer, listen, readBody, sendJson } from '../entra/http.js'
import type { Emulator, FailNextOptions, Knobs, PrincipalSpec } from '../types.js'
import type { WireDescription, WireError } from './wire.js'
import { principalToWire } from './wire.js'

/** the JSON bodies of the control API's POST routes; validated by the emulator methods they reach */
interface ControlRequest {
  spec?: PrincipalSpec
  name?: unknown
  password?: unknown
  principal?: unknown
  opts?: Record<string, never>
  claims?: Record<string, unknown>
  patch?: Partial<Knobs>
  failure?: FailNextOptions
  scope?: { principal?: string }
}

export interface ControlServer {
  url: string
  close(): Promise<void>
}

function errorBody(e: unknown): { status: number; body: WireError } {
  const err = e as { code?: unknown; message?: unknown; hint?: unknown; name?: unknown }
  const code = typeof err.code === 'string' ? err.code : 'INTERNAL'
  const status = code === 'PRINCIPAL_NOT_FOUND' ? 404 : code === 'INTERNAL' ? 500 : 400
  return {
    status,
    body: {
      error: {
        code,
        message: typeof err.message === 'string' ? err.message : String(e),
        hint: typeof err.hint === 'string' ? err.hint : '',
      },
    },
  }
}

export function describeForWire(emulator: Emulator): WireDescription {
  return {
    tenantId: emulator.tenantId,
    authorityHost: emulator.authorityHost,
    scope: emulator.scope,
    resource: emulator.resource,
    issuers: emulator.issuers,
    jwksUri: emulator.jwksUri,
    ca: emulator.ca,
    caPath: emulator.caPath,
    workDir: emulator.workDir,
    managedIdentity: emulator.managedIdentity,
    pg: { ...emulator.pg, adminPassword: emulator.pg.adminPassword },
    ...(emulator.pgbouncer ? { pgbouncer: emulator.pgbouncer } : {}),
    controlUrl: emulator.controlUrl,
    principals: emulator.principals.map(principalToWire),
    knobs: emulator.knobs.get(),
  }
}

export async function startControlServer(
  emulator: Emulator,
  opts: { host: string; port?: number },
): Promise<ControlServer> {
  const key = randomBytes(12).toString('base64url')
  const prefix = `/${key}`

  async function route(method: string, path: string, body: ControlRequest): Promise<unknown> {
    switch (`${method} ${path}`) {
      case 'GET /describe':
        return describeForWire(emulator)
      case 'POST /principals': {
        const principal = principalToWire(await emulator.addPrincipal(body.spec as PrincipalSpec))
        return { principal, principals: emulator.principals.map(principalToWire) }
      }
      case 'POST /password-roles':
        await emulator.createPasswordRole(String(body.name), String(body.password))
        return {}
      case 'POST /token':
        return { token: await emulator.token(String(body.principal), body.opts ?? {}) }
      case 'POST /mint':
        return { token: await emulator.mintToken(body.claims ?? {}, body.opts ?? {}) }
      case 'GET /knobs':
        return emulator.knobs.get()
      case 'POST /knobs':
        await emulator.knobs.set(body.patch ?? {})
        return emulator.knobs.get()
      case 'POST /knobs/fail-next':
        await emulator.knobs.failNext(body.failure as FailNextOptions)
        return emulator.knobs.get()
      case 'POST /knobs/reset':
        await emulator.knobs.reset(body.scope ?? {})
        return emulator.knobs.get()
      case 'GET /counters':
        return emulator.counters()
      case 'GET /request-log':
        return emulator.requestLog()
      default:
        throw Object.assign(new Error(`no ${method} ${path}`), { code: 'NOT_FOUND', hint: 'check the control URL' })
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    if (!url.pathname.startsWith(`${prefix}/`)) {
      return sendJson(res, 404, { error: { code: 'NOT_FOUND', message: 'unknown control path', hint: '' } })
    }
    const path = url.pathname.slice(prefix.length)
    const text = req.method === 'POST' ? await readBody(req) : ''
    let body: ControlRequest
    try {
      body = (text ? JSON.parse(text) : {}) as ControlRequest
    } catch {
      throw Object.assign(new Error('the request body is not JSON'), { code: 'BAD_REQUEST', hint: 'send JSON' })
    }
    sendJson(res, 200, await route(req.method ?? 'GET', path, body))
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      const { status, body } = errorBody(e)
      sendJson(res, status, body)
    })
  })
  const port = await listen(server, opts.port ?? 0, opts.host)
  return { url: `http://${opts.host}:${port}${prefix}`, close: () => closeServer(server) }
}
