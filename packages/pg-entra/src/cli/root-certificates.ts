import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { rootCertificates } from 'node:tls'

/** Whether libpq finds a CA file of its own (~/.postgresql/root.crt), which verify-full then uses. */
export function libpqHasRootCertificate(): boolean {
  return existsSync(join(homedir(), '.postgresql', 'root.crt'))
}

/**
 * libpq's verify-full trusts only ~/.postgresql/root.crt unless told otherwise (and older libpq knows no
 * sslrootcert=system): the public roots Node trusts, written to a 0600 file in a directory of its own. `remove()`
 * deletes both.
 */
export function writeNodeRootCertificates(prefix: string): { file: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const file = join(dir, 'root.crt')
  writeFileSync(file, `${rootCertificates.join('\n')}\n`, { mode: 0o600 })
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) }
}
