// copy-relay.c, built with the machine's C compiler (and OpenSSL's headers) into `dir`: the least a relay in the
// place of the front or of the proxy can do, measured beside the Node relays. `{ unavailable }`, with the reason,
// when it cannot be built or will not start.
import { execFile, spawn } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const source = fileURLToPath(new URL('copy-relay.c', import.meta.url))

/**
 * `args`: ['server', certPath, keyPath, unixSocketPath] (TLS from pgbench, PostgreSQL's socket behind) or
 * ['client', caPath, hostName, port] (plain from pgbench, verified TLS to 127.0.0.1:port). Resolves to
 * { port, stop() } or { unavailable: reason }.
 */
export async function startCopyRelay({ dir, args }) {
  const binary = join(dir, 'copy-relay')
  try {
    await promisify(execFile)(process.env.CC ?? 'cc', ['-O2', '-o', binary, source, '-lssl', '-lcrypto'])
  } catch (error) {
    const why = String(error.stderr || error.message)
      .trim()
      .split('\n')[0]
    return { unavailable: `the copy relay was not built (a C compiler and OpenSSL's headers are needed): ${why}` }
  }
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let errors = ''
  child.stderr.on('data', (chunk) => {
    errors += chunk
  })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  const port = await new Promise((resolve) => {
    let out = ''
    child.stdout.on('data', (chunk) => {
      out += chunk
      if (out.includes('\n')) resolve(Number(out.trim()))
    })
    child.once('exit', () => resolve(undefined))
  })
  if (!port) return { unavailable: `the copy relay did not start: ${errors.trim()}` }
  return {
    port,
    stop: () => {
      child.kill('SIGTERM')
      return exited
    },
  }
}
