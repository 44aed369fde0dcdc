import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'

const require = createRequire(import.meta.url)
const guard = require('./loopback-guard.cjs') as {
  isLoopbackAddress(a: string): boolean
  violations(): string[]
  clearViolations(): void
}
const run = promisify(execFile)

function connectError(options: net.NetConnectOpts): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect(options)
    socket.once('connect', () => {
      socket.destroy()
      resolve(undefined)
    })
    socket.once('error', (error) => resolve(error))
  })
}

describe('loopback guard', () => {
  // These tests trip the guard on purpose: their violations go to a private log, not the run's.
  const privateDir = mkdtempSync(join(tmpdir(), 'guard-own-'))
  const runLog = process.env.LOOPBACK_GUARD_LOG
  beforeAll(() => {
    process.env.LOOPBACK_GUARD_LOG = join(privateDir, 'violations.log')
  })
  afterAll(() => {
    process.env.LOOPBACK_GUARD_LOG = runLog
    rmSync(privateDir, { recursive: true, force: true })
  })
  afterEach(() => guard.clearViolations())

  it('tells loopback addresses from others', () => {
    for (const a of ['127.0.0.1', '127.9.8.7', '::1', '::ffff:127.0.0.1']) expect(guard.isLoopbackAddress(a)).toBe(true)
    for (const a of ['169.254.169.254', '10.0.0.1', '::ffff:10.0.0.1', '2001:db8::1', '0.0.0.0'])
      expect(guard.isLoopbackAddress(a)).toBe(false)
  })

  it('fails a connection to the instance metadata address at once, naming it', async () => {
    const error = await connectError({ host: '169.254.169.254', port: 80 })
    expect(error?.code).toBe('ERR_LOOPBACK_GUARD')
    expect(error?.message).toContain('169.254.169.254:80')
    expect(guard.violations()).toHaveLength(1)
  })

  it('fails a fetch to a Microsoft host before any DNS lookup', async () => {
    const error = await fetch('https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration').catch(
      (e: Error) => e,
    )
    expect(error).toBeInstanceOf(Error)
    const causes = JSON.stringify(String((error as Error & { cause?: unknown }).cause))
    expect(causes).toContain('login.microsoftonline.com')
    expect(guard.violations().some((v) => v.includes('login.microsoftonline.com'))).toBe(true)
  })

  it('fails DNS lookups of outside names, callback and promise forms', async () => {
    const dns = await import('node:dns')
    const viaCallback = await new Promise<Error | null>((resolve) => dns.lookup('example.com', (e) => resolve(e)))
    expect(viaCallback?.message).toContain('example.com')
    await expect(dns.promises.lookup('example.org')).rejects.toThrow(/example\.org/)
    await expect(dns.promises.resolve4('example.net')).rejects.toThrow(/example\.net/)
  })

  it('lets loopback connections through', async () => {
    const server = net.createServer((s) => s.end())
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as net.AddressInfo
    expect(await connectError({ host: '127.0.0.1', port })).toBeUndefined()
    expect(await connectError({ host: 'localhost', port, family: 4 })).toBeUndefined()
    server.close()
    expect(guard.violations()).toEqual([])
  })

  it('is loaded into child processes through NODE_OPTIONS and reports to the log', async () => {
    expect(process.env.NODE_OPTIONS).toContain('loopback-guard.cjs')
    const dir = mkdtempSync(join(tmpdir(), 'guard-test-'))
    const log = join(dir, 'violations.log')
    try {
      const script = `require('node:net').connect(443, '10.255.255.1').on('error', (e) => { console.log(e.code, e.message); })`
      const { stdout } = await run(process.execPath, ['-e', script], {
        env: { ...process.env, LOOPBACK_GUARD_LOG: log },
      })
      expect(stdout).toContain('ERR_LOOPBACK_GUARD')
      expect(stdout).toContain('10.255.255.1:443')
      expect(readFileSync(log, 'utf8')).toContain('10.255.255.1:443')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
