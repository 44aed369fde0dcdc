import { chmodSync, lstatSync, unlinkSync } from 'node:fs'
import { connect, type Server } from 'node:net'
import { PgEntraError } from '../errors/pg-entra-error.js'

/** What a user meets on the way to a port, by errno: what is wrong, the option to change, and how. */
const listenProblems: Record<string, { what: string; option: string; hint: string }> = {
  EADDRINUSE: {
    what: 'another program listens there',
    option: 'port',
    hint: 'a local PostgreSQL or another proxy, perhaps: choose another port (--port), or 0 for a free one',
  },
  EACCES: {
    what: 'not allowed (a port below 1024 needs root)',
    option: 'port',
    hint: 'choose a port of 1024 or above (--port), or 0 for a free one',
  },
  EADDRNOTAVAIL: {
    what: 'no interface of this machine has that address',
    option: 'host',
    hint: 'listen on 127.0.0.1 (the default) or ::1',
  },
}

function cannotListen(error: NodeJS.ErrnoException, host: string, port: number): Error {
  const problem = error.code === undefined ? undefined : listenProblems[error.code]
  if (!problem) return error
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`
  return new PgEntraError('INVALID_OPTION', `cannot listen on ${where}: ${problem.what}`, {
    hint: problem.hint,
    details: { option: problem.option, reason: error.code },
    cause: error,
  })
}

export function listenTcp(server: Server, host: string, port: number): Promise<{ host: string; port: number }> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => reject(cannotListen(error, host, port))
    server.once('error', onError)
    server.listen({ host, port }, () => {
      server.off('error', onError)
      const address = server.address()
      if (address === null || typeof address === 'string') return reject(new Error('the proxy has no TCP address'))
      resolve({ host: address.address, port: address.port })
    })
  })
}

/** A socket file left by a proxy that died: nothing answers on it. */
function isStaleSocket(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path)
    probe.once('connect', () => {
      probe.destroy()
      resolve(false)
    })
    probe.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'))
  })
}

function inUse(path: string, why: string): PgEntraError {
  return new PgEntraError('INVALID_OPTION', `cannot listen on ${path}: ${why}`, {
    hint: 'choose another path for the Unix socket, or stop what uses it',
    details: { option: 'unixSocket' },
  })
}

/**
 * Listens on a Unix socket that only this user can connect to: created under umask 0177, so that it is never
 * accessible to others even for a moment, then set to 0600. A stale socket file is replaced.
 */
export async function listenUnix(server: Server, path: string): Promise<void> {
  const existing = (() => {
    try {
      return lstatSync(path)
    } catch {
      return undefined
    }
  })()
  if (existing) {
    if (!existing.isSocket()) throw inUse(path, 'a file that is not a socket is there')
    if (!(await isStaleSocket(path))) throw inUse(path, 'another process listens on it')
    unlinkSync(path)
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    const previous = process.umask(0o177)
    try {
      server.listen(path, () => {
        server.off('error', reject)
        resolve()
      })
    } finally {
      process.umask(previous)
    }
  })
  chmodSync(path, 0o600)
}
