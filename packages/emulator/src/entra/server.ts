// Entra ID over HTTPS: OpenID metadata (v2 and v1), the v2 token endpoint (client credentials) and the JWKS.
import { timingSafeEqual } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer } from 'node:https'
import type { RequestLogEntry } from '../counters/index.js'
import { fingerprint, redactParams } from '../counters/index.js'
import { sameGuid } from '../directory/index.js'
import type { Principal } from '../directory/types.js'
import { verifyClientAssertion } from './assertions.js'
import { isKnownResource, resourceFromScope, v1Issuer, v2Issuer } from './constants.js'
import type { EntraContext } from './context.js'
import { issueAndRecord } from './context.js'
import { applyFaults } from './faults.js'
import { aadstsBody, closeServer, listen, readBody, sendJson } from './http.js'
import { jwks } from './keys.js'

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

export interface EntraServer {
  authorityHost: string
  port: number
  close(): Promise<void>
}

function secretsEqual(given: string, expected: string | undefined): boolean {
  if (expected === undefined) return false
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

/** client_secret_basic (RFC 6749 2.3.1: both parts form-urlencoded); 'malformed' when they cannot be decoded. */
function basicCredentials(header: string | undefined): { clientId: string; secret: string } | 'malformed' | undefined {
  const basic = /^Basic\s+(.+)$/i.exec(header ?? '')
  if (!basic?.[1]) return undefined
  const decoded = Buffer.from(basic[1], 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon <= 0) return 'malformed'
  try {
    const clientId = decodeURIComponent(decoded.slice(0, colon))
    const secret = decodeURIComponent(decoded.slice(colon + 1))
    return { clientId, secret }
  } catch {
    return 'malformed'
  }
}

function openidConfiguration(base: string, issuer: string, version: 'v1' | 'v2') {
  const oauth = version === 'v2' ? `${base}/oauth2/v2.0` : `${base}/oauth2`
  return {
    token_endpoint: `${oauth}/token`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    jwks_uri: `${base}/discovery/${version === 'v2' ? 'v2.0/' : ''}keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    issuer,
    request_uri_parameter_supported: false,
    userinfo_endpoint: `${base}/openid/userinfo`,
    authorization_endpoint: `${oauth}/authorize`,
    device_authorization_endpoint: `${oauth}/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${oauth}/logout`,
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nbf', 'oid', 'tid', 'ver', 'upn', 'appid', 'xms_mirid'],
    tenant_region_scope: 'EU',
    cloud_instance_name: 'microsoftonline.com',
    cloud_graph_host_name: 'graph.windows.net',
    msgraph_host: 'graph.microsoft.com',
  }
}

export async function startEntraServer(
  ctx: EntraContext,
  opts: { tls: { key: string; cert: string }; host: string; port?: number },
): Promise<EntraServer> {
  let authorityHost = ''

  async function tokenEndpoint(
    req: IncomingMessage,
    res: ServerResponse,
    tenant: string,
    entry: RequestLogEntry,
    version: 'v1' | 'v2',
  ) {
    const body = await readBody(req)
    const params = new URLSearchParams(body)
    const basic = basicCredentials(req.headers.authorization)
    if (basic && basic !== 'malformed') {
      if (!params.has('client_id')) params.set('client_id', basic.clientId)
      params.set('client_secret', basic.secret)
    }
    entry.params = { ...entry.params, ...redactParams(params) }
    const fail = (status: number, error: string, code: number, description: string) => {
      entry.status = status
      entry.error = `AADSTS${code}`
      ctx.counters.tokenFailure(entry.principal, false)
      sendJson(res, status, aadstsBody(error, code, description))
    }
    if (basic === 'malformed') {
      ctx.counters.tokenRequest(undefined)
      return fail(
        401,
        'invalid_client',
        7000215,
        'Invalid client secret provided. The Authorization header (client_secret_basic) could not be decoded.',
      )
    }
    const clientId = params.get('client_id') ?? ''
    const principal: Principal | undefined = ctx.directory.application(clientId)
    if (principal) entry.principal = principal.name
    ctx.counters.tokenRequest(principal?.name)

    if (!sameGuid(ctx.tenantId, tenant)) {
      return fail(
        400,
        'invalid_request',
        90002,
        `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
      )
    }
    const faults = await applyFaults({
      res,
      principal: principal?.name,
      knobs: ctx.knobs,
      counters: ctx.counters,
      entry,
      shape: 'entra',
      hung: ctx.hung,
    })
    if (faults.handled) return

    const grantType = params.get('grant_type')
    if (!grantType) {
      return fail(
        400,
        'invalid_request',
        900144,
        "The request body must contain the following parameter: 'grant_type'.",
      )
    }
    if (grantType !== 'client_credentials') {
      return fail(
        400,
        'unsupported_grant_type',
        70003,
        `The app requested an unsupported grant type '${grantType ?? ''}'. pg-entra-emulator supports client_credentials.`,
      )
    }
    if (!principal) {
      return fail(
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${ctx.tenantId}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
      )
    }
    let appidacr: '1' | '2'
    const secret = params.get('client_secret')
    const assertion = params.get('client_assertion')
    if (secret !== null) {
      entry.credential = 'secret'
      if (!secretsEqual(secret, principal.secret)) {
        return fail(
          401,
          'invalid_client',
          7000215,
          `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`,
        )
      }
      appidacr = '1'
    } else if (assertion !== null && params.get('client_assertion_type') === JWT_BEARER) {
      const endpoint = `${authorityHost}/${tenant}/oauth2/v2.0/token`
      const result = await verifyClientAssertion({
        assertion,
        principal,
        directory: ctx.directory,
        tokenEndpoints: [endpoint, `${authorityHost}/${tenant}/oauth2/token`],
        federation: { issuer: ctx.federationIssuer(), key: await ctx.keys.federation() },
      })
      if (!result.ok) return fail(401, result.error, result.code, result.description)
      entry.credential = result.credential
      appidacr = '2'
    } else {
      return fail(
        401,
        'invalid_client',
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
      )
    }
    // v1 takes `resource` (the audience, exactly as given); v2 takes `scope` (one `<resource>/.default`)
    let resource: string | undefined
    if (version === 'v1') {
      resource = params.get('resource') ?? undefined
      if (resource === undefined) {
        return fail(
          400,
          'invalid_request',
          900144,
          "The request body must contain the following parameter: 'resource'.",
        )
      }
    } else {
      const verdict = resourceFromScope(params.get('scope'))
      if (!('resource' in verdict)) return fail(verdict.status, verdict.error, verdict.code, verdict.description)
      resource = verdict.resource
    }
    if (!isKnownResource(resource)) {
      return fail(
        400,
        'invalid_resource',
        500011,
        `The resource principal named ${resource ?? '(none)'} was not found in the tenant named ${ctx.tenantId}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
      )
    }
    const issued = await issueAndRecord(ctx, principal, {
      via: 'token-endpoint',
      wrongAudience: faults.wrongAudience,
      appidacr,
      ...(resource === undefined ? {} : { audience: resource }),
    })
    entry.status = 200
    entry.tokenId = issued.tokenId
    entry.tokenFingerprint = fingerprint(issued.token)
    if (version === 'v1') {
      // Entra's v1 endpoint answers with numbers as strings, and names the resource
      return sendJson(res, 200, {
        token_type: 'Bearer',
        expires_in: String(issued.lifetimeSeconds),
        ext_expires_in: String(issued.lifetimeSeconds),
        expires_on: String(issued.expiresAt),
        not_before: String(issued.issuedAt),
        resource,
        ...(issued.refreshInSeconds === undefined ? {} : { refresh_in: String(issued.refreshInSeconds) }),
        access_token: issued.token,
      })
    }
    sendJson(res, 200, {
      token_type: 'Bearer',
      expires_in: issued.lifetimeSeconds,
      ext_expires_in: issued.lifetimeSeconds,
      ...(issued.refreshInSeconds === undefined ? {} : { refresh_in: issued.refreshInSeconds }),
      access_token: issued.token,
    })
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', authorityHost)
    const entry: RequestLogEntry = {
      time: new Date().toISOString(),
      server: 'entra',
      method: req.method ?? 'GET',
      path: url.pathname,
      params: redactParams(url.searchParams),
    }
    ctx.counters.record(entry)
    const match = /^\/([^/]+)\/(.+)$/.exec(url.pathname)
    const tenant = match?.[1] ?? ''
    const rest = match?.[2] ?? ''
    const base = `${authorityHost}/${tenant}`
    const known = sameGuid(ctx.tenantId, tenant)
    const unknownTenant = () => {
      entry.status = 400
      entry.error = 'AADSTS90002'
      sendJson(res, 400, aadstsBody('invalid_tenant', 90002, `Tenant '${tenant}' not found.`))
    }
    if (req.method === 'GET' && rest === 'v2.0/.well-known/openid-configuration') {
      ctx.counters.metadataRequest()
      if (!known) return unknownTenant()
      entry.status = 200
      return sendJson(res, 200, openidConfiguration(base, v2Issuer(authorityHost, ctx.tenantId), 'v2'))
    }
    if (req.method === 'GET' && rest === '.well-known/openid-configuration') {
      ctx.counters.metadataRequest()
      if (!known) return unknownTenant()
      entry.status = 200
      return sendJson(res, 200, openidConfiguration(base, v1Issuer(ctx.tenantId), 'v1'))
    }
    if (req.method === 'GET' && (rest === 'discovery/v2.0/keys' || rest === 'discovery/keys')) {
      ctx.counters.jwksRequest()
      if (!known) return unknownTenant()
      entry.status = 200
      const v2 = rest === 'discovery/v2.0/keys' ? `${authorityHost}/{tenantid}/v2.0` : undefined
      return sendJson(res, 200, jwks(ctx.keys, v2))
    }
    if (req.method === 'POST' && (rest === 'oauth2/v2.0/token' || rest === 'oauth2/token')) {
      return tokenEndpoint(req, res, tenant, entry, rest === 'oauth2/token' ? 'v1' : 'v2')
    }
    entry.status = 404
    sendJson(res, 404, {
      error: 'not_found',
      error_description: `pg-entra-emulator has no ${req.method} ${url.pathname}`,
    })
  }

  const server = createServer({ key: opts.tls.key, cert: opts.tls.cert }, (req, res) => {
    handle(req, res).catch((e: unknown) => {
      const status = (e as { status?: number }).status ?? 500
      sendJson(res, status, aadstsBody('server_error', 50000, `pg-entra-emulator: ${(e as Error).name}`))
    })
  })
  const port = await listen(server, opts.port ?? 0, opts.host)
  const hostPart = opts.host.includes(':') ? `[${opts.host}]` : opts.host
  authorityHost = `https://${hostPart}:${port}`
  return { authorityHost, port, close: () => closeServer(server) }
}
