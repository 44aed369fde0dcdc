// Managed-identity endpoints on loopback http, in the App Service shape (IDENTITY_ENDPOINT + IDENTITY_HEADER,
// api-version 2019-08-01) and the IMDS shape (AZURE_POD_IDENTITY_AUTHORITY_HOST, Metadata: true). Each shape has its
// own listener and requires what Azure's does: the IMDS path is not served on the App Service port, so nothing there
// issues a token without X-IDENTITY-HEADER.
import { randomUUID, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer } from 'node:http'
import type { RequestLogEntry } from '../counters/index.js'
import { fingerprint, redactParams } from '../counters/index.js'
import type { Principal } from '../directory/types.js'
import { isKnownResource } from './constants.js'
import type { EntraContext } from './context.js'
import { issueAndRecord } from './context.js'
import { applyFaults } from './faults.js'
import { closeServer, listen, sendJson } from './http.js'

export const APP_SERVICE_PATH = '/msi/token'
export const IMDS_PATH = '/metadata/identity/oauth2/token'

export interface ManagedIdentityServer {
  /** IDENTITY_ENDPOINT */
  endpoint: string
  /** IDENTITY_HEADER */
  header: string
  /** AZURE_POD_IDENTITY_AUTHORITY_HOST */
  imdsHost: string
  port: number
  close(): Promise<void>
}

function headerMatches(given: string | string[] | undefined, expected: string): boolean {
  if (typeof given !== 'string') return false
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

export async function startManagedIdentityServer(
  ctx: EntraContext,
  opts: { host: string; port?: number; header: string },
): Promise<ManagedIdentityServer> {
  async function handle(req: IncomingMessage, res: ServerResponse, listener: 'app-service' | 'imds') {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    const entry: RequestLogEntry = {
      time: new Date().toISOString(),
      server: 'managed-identity',
      method: req.method ?? 'GET',
      path: url.pathname,
      params: redactParams(url.searchParams),
      credential: 'managed-identity',
    }
    ctx.counters.record(entry)
    const path = url.pathname.replace(/\/$/, '')
    const shape =
      listener === 'app-service' && path === APP_SERVICE_PATH
        ? 'app-service'
        : listener === 'imds' && path === IMDS_PATH
          ? 'imds'
          : undefined
    const q = url.searchParams
    const error = (status: number, code: string, message: string) => {
      entry.status = status
      entry.error = code
      const body =
        shape === 'app-service'
          ? { statusCode: status, message, correlationId: randomUUID() }
          : { error: code, error_description: message }
      sendJson(res, status, body)
    }
    if (!shape || req.method !== 'GET') return error(404, 'not_found', `no ${req.method} ${url.pathname}`)
    ctx.counters.managedIdentityRequest()
    if (shape === 'app-service' && !headerMatches(req.headers['x-identity-header'], opts.header)) {
      return error(401, 'unauthorized', 'The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER.')
    }
    if (shape === 'imds' && req.headers.metadata !== 'true') {
      return error(400, 'invalid_request', 'Required metadata header not specified')
    }
    if (!q.get('api-version')) {
      return shape === 'app-service'
        ? error(400, 'invalid_request', 'The api-version parameter is missing.')
        : error(400, 'invalid_request', 'Required query variable: api-version is missing')
    }
    const clientId = q.get('client_id') ?? undefined
    const objectId = q.get('object_id') ?? q.get('principal_id') ?? undefined
    const resourceId = q.get('mi_res_id') ?? q.get('msi_res_id') ?? undefined
    const asked = clientId !== undefined || objectId !== undefined || resourceId !== undefined
    const principal: Principal | undefined = asked
      ? ctx.directory.managedIdentity({ clientId, objectId, resourceId })
      : ctx.directory.systemAssignedIdentity()
    if (principal) entry.principal = principal.name
    ctx.counters.tokenRequest(principal?.name)

    const faults = await applyFaults({
      res,
      principal: principal?.name,
      knobs: ctx.knobs,
      counters: ctx.counters,
      entry,
      shape: 'managed-identity',
      hung: ctx.hung,
    })
    if (faults.handled) return
    if (!principal) {
      ctx.counters.tokenFailure(undefined, false)
      return shape === 'app-service'
        ? error(400, 'invalid_request', 'No managed identity found for the request')
        : error(400, 'invalid_request', 'Identity not found')
    }
    const resource = q.get('resource') ?? undefined
    if (!isKnownResource(resource)) {
      ctx.counters.tokenFailure(principal.name, false)
      return error(
        400,
        'invalid_resource',
        `AADSTS500011: The resource principal named ${resource ?? '(none)'} was not found in the tenant named ${ctx.tenantId}.`,
      )
    }
    const issued = await issueAndRecord(ctx, principal, {
      via: 'managed-identity',
      wrongAudience: faults.wrongAudience,
      ...(resource === undefined ? {} : { audience: resource }),
    })
    entry.status = 200
    entry.tokenId = issued.tokenId
    entry.tokenFingerprint = fingerprint(issued.token)
    const now = Math.floor(Date.now() / 1000)
    const refreshIn = issued.refreshInSeconds === undefined ? {} : { refresh_in: String(issued.refreshInSeconds) }
    if (shape === 'app-service') {
      return sendJson(res, 200, {
        access_token: issued.token,
        expires_on: String(issued.expiresAt),
        resource,
        token_type: 'Bearer',
        client_id: principal.clientId,
        ...refreshIn,
      })
    }
    sendJson(res, 200, {
      access_token: issued.token,
      client_id: principal.clientId,
      expires_in: String(issued.expiresAt - now),
      expires_on: String(issued.expiresAt),
      ext_expires_in: String(issued.expiresAt - now),
      not_before: String(issued.issuedAt),
      resource,
      token_type: 'Bearer',
      ...refreshIn,
    })
  }

  const serve = (listener: 'app-service' | 'imds') =>
    createServer((req, res) => {
      handle(req, res, listener).catch(() =>
        sendJson(res, 500, { error: 'server_error', error_description: 'pg-entra-emulator' }),
      )
    })
  const appService = serve('app-service')
  const imds = serve('imds')
  const port = await listen(appService, opts.port ?? 0, opts.host)
  const imdsPort = await listen(imds, 0, opts.host)
  const base = (p: number) => `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${p}`
  return {
    endpoint: `${base(port)}${APP_SERVICE_PATH}`,
    header: opts.header,
    imdsHost: base(imdsPort),
    port,
    close: async () => {
      await Promise.all([closeServer(appService), closeServer(imds)])
    },
  }
}
