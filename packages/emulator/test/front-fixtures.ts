// Shared by the front-*.test.ts files: embedded PostgreSQL, a CA and server certificate, a jose-based TokenVerifier
// with a key the test generates, and the front started on them.
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair, errors as joseErrors, jwtVerify, SignJWT } from 'jose'
import pg from 'pg'
import { startPgFront } from '../src/pg-front/index.js'
import type { FrontEvent, PgFront, TokenVerifier, VerifiedToken } from '../src/pg-front/types.js'
import { TokenRejected } from '../src/pg-front/types.js'
import { createCertificateAuthority } from '../src/pki/index.js'
import { startUpstream, type UpstreamHandle } from '../src/upstream/index.js'

export const RESOURCE = 'https://ossrdbms-aad.database.windows.net'
export const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47'
export const ISSUER = `https://sts.windows.net/${TENANT}/`

export interface FrontFixture {
  upstream: UpstreamHandle
  front: PgFront
  ca: string
  caPath: string
  /** the front's certificate, for tests that start another front */
  serverTls: { key: string; cert: string }
  events: FrontEvent[]
  /** the verifier the front uses, for tests that start another front */
  verifier: TokenVerifier
  mint(claims: Record<string, unknown>, opts?: { lifetimeSeconds?: number }): Promise<string>
  connect(user: string, password: string, extra?: Partial<pg.ClientConfig>): Promise<pg.Client>
  lastEvent(role: string): FrontEvent | undefined
  stop(): Promise<void>
}

export async function testVerifier(): Promise<{
  verifier: TokenVerifier
  mint: FrontFixture['mint']
}> {
  const { privateKey, publicKey } = await generateKeyPair('RS256')
  const kid = randomUUID()
  const verifier: TokenVerifier = {
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, publicKey, {
          algorithms: ['RS256'],
          audience: RESOURCE,
          issuer: ISSUER,
          requiredClaims: ['exp', 'nbf', 'oid', 'tid'],
        })
        if (payload.tid !== TENANT) throw new TokenRejected('tenant', `tid ${String(payload.tid)} is not ${TENANT}`)
        const upn = (payload.upn ?? payload.unique_name) as string | undefined
        const verified: VerifiedToken = {
          claims: payload,
          oid: String(payload.oid),
          tid: String(payload.tid),
          tokenId: String(payload.uti),
          issuedAt: payload.iat ?? 0,
          expiresAt: payload.exp ?? 0,
          ...(upn ? { upn } : {}),
          ...(Array.isArray(payload.groups) ? { groups: payload.groups as string[] } : {}),
        }
        return verified
      } catch (e) {
        if (e instanceof TokenRejected) throw e
        if (e instanceof joseErrors.JWTExpired) throw new TokenRejected('expired', 'token expired')
        if (e instanceof joseErrors.JWTClaimValidationFailed) throw new TokenRejected('claims', e.message)
        if (e instanceof joseErrors.JWSSignatureVerificationFailed) throw new TokenRejected('signature', e.message)
        throw new TokenRejected('malformed', e instanceof Error ? e.name : 'unreadable token')
      }
    },
  }
  const mint: FrontFixture['mint'] = async (claims, opts = {}) => {
    const now = Math.floor(Date.now() / 1000)
    return new SignJWT({ tid: TENANT, uti: randomUUID().replaceAll('-', ''), ver: '1.0', ...claims })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid })
      .setIssuer(ISSUER)
      .setAudience(RESOURCE)
      .setIssuedAt(now)
      .setNotBefore(now - 5)
      .setExpirationTime(now + (opts.lifetimeSeconds ?? 3600))
      .sign(privateKey)
  }
  return { verifier, mint }
}

export async function startFrontFixture(): Promise<FrontFixture> {
  const upstream = await startUpstream({ kind: 'embedded' })
  const authority = await createCertificateAuthority()
  const serverCert = await authority.issueServerCertificate()
  const dir = mkdtempSync(join(tmpdir(), 'front-test-'))
  const caPath = join(dir, 'ca.pem')
  writeFileSync(caPath, authority.caPem)
  const { verifier, mint } = await testVerifier()
  const events: FrontEvent[] = []
  const front = await startPgFront({
    host: '127.0.0.1',
    tls: serverCert,
    upstream,
    verifier,
    onEvent: (e) => events.push(e),
  })
  const clients: pg.Client[] = []
  return {
    upstream,
    front,
    ca: authority.caPem,
    caPath,
    serverTls: serverCert,
    events,
    verifier,
    mint,
    async connect(user, password, extra = {}) {
      const client = new pg.Client({
        host: '127.0.0.1',
        port: front.port,
        user,
        password,
        database: 'postgres',
        ssl: { ca: authority.caPem },
        ...extra,
      })
      client.on('error', () => {})
      clients.push(client)
      await client.connect()
      return client
    },
    lastEvent: (role) => events.findLast((e) => e.type !== 'cancel' && e.role === role),
    async stop() {
      await Promise.all(clients.map((c) => c.end().catch(() => {})))
      await front.close()
      await upstream.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** The SQLSTATE and message a connect attempt failed with. */
export async function connectError(attempt: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await attempt
  } catch (e) {
    const err = e as { code?: string; message: string }
    return { code: err.code, message: err.message }
  }
  throw new Error('the connection was expected to fail')
}
