// Shared by the proxy's tests: a service principal with short-lived tokens, its Entra options, a proxy in front of
// the emulator, and PostgreSQL's own programs run against it.
import { spawn } from 'node:child_process'
import pg from 'pg'
import { judgeRollover, type RolloverVerdict } from '../../../../examples/_shared/run-example.js'
import { shortLivedPrincipal, uniqueName, useEmulator } from '../../../../tools/test/emulator.js'
import type { EntraAuthOptions } from '../../src/auth/types.js'
import { type EntraProxy, type ProxyOptions, startProxy } from '../../src/proxy/index.js'

export type Emu = Awaited<ReturnType<typeof useEmulator>>
export type Principal = Awaited<ReturnType<Emu['addPrincipal']>>

export { createOwnSchema } from '../../../../examples/_shared/run-example.js'

export async function principalFor(label: string, tokenLifetimeSeconds = 15): Promise<{ emu: Emu; sp: Principal }> {
  const emu = await useEmulator()
  const sp = await shortLivedPrincipal(emu, uniqueName(label), tokenLifetimeSeconds)
  return { emu, sp }
}

/** The service principal's credential, pointed at the emulator. */
export function entraOptions(emu: Emu, sp: Principal): EntraAuthOptions {
  return {
    tenantId: emu.tenantId,
    clientId: sp.appId!,
    clientSecret: sp.secret!,
    authorityHost: emu.authorityHost,
    authorityCa: emu.ca,
  }
}

/** A proxy in front of the emulator's front, trusting the emulator's CA, with the principal's own token source. */
export function proxyFor(emu: Emu, sp: Principal, options: Partial<ProxyOptions> = {}): Promise<EntraProxy> {
  return startProxy({
    server: { host: emu.pg.host, port: emu.pg.port, ca: emu.ca },
    entra: entraOptions(emu, sp),
    ...options,
  })
}

/** One statement as the emulator's admin (a password role), straight to the front. */
export async function asAdmin(emu: Emu, sql: string): Promise<void> {
  const client = new pg.Client({
    host: emu.pg.host,
    port: emu.pg.port,
    database: emu.pg.database,
    user: emu.pg.adminUser,
    password: emu.pg.adminPassword,
    ssl: { ca: emu.ca },
  })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

export async function tokenRequests(emu: Emu, sp: Principal): Promise<number> {
  return (await emu.counters()).tokenRequests.byPrincipal[sp.name]?.requests ?? 0
}

/** Whether every connection the role opened carried the token current at the time (see examples/_shared). */
export async function rolloverVerdict(emu: Emu, sp: Principal): Promise<RolloverVerdict> {
  const counters = await emu.counters()
  const issued = counters.tokenRequests.byPrincipal[sp.name]?.issued ?? []
  const role = counters.pg.byRole[sp.roleName!]
  return judgeRollover(issued, role?.tokenIds ?? [], role?.rejected ?? 0)
}

export interface ToolRun {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs a program with only the environment given on top of PATH and HOME: nothing ambient from the shell. */
export function runTool(
  command: string,
  args: string[],
  env: Record<string, string | undefined> = {},
  timeoutMs = 180_000,
): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    const base: Record<string, string | undefined> = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_OPTIONS: process.env.NODE_OPTIONS,
      LOOPBACK_GUARD_LOG: process.env.LOOPBACK_GUARD_LOG,
    }
    const child = spawn(command, args, { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

/** libpq's environment for a client of the proxy: no password, no TLS (loopback), the role as user. */
export function libpqEnv(proxy: EntraProxy, emu: Emu, user?: string): Record<string, string> {
  return {
    PGHOST: proxy.host,
    PGPORT: String(proxy.port),
    PGDATABASE: emu.pg.database,
    ...(user ? { PGUSER: user } : {}),
  }
}
