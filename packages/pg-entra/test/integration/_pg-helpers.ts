import type { useEmulator } from '../../../../tools/test/emulator.js'
import type { EntraAuthOptions } from '../../src/auth/types.js'

export type Emu = Awaited<ReturnType<typeof useEmulator>>

/** Entra options that keep @azure/identity on the emulator: its authority, no instance discovery, its CA. */
export function emulatorAuthority(emu: Emu): Pick<EntraAuthOptions, 'authorityHost' | 'authorityCa'> {
  return { authorityHost: emu.authorityHost, authorityCa: emu.ca }
}

/** pg connection fields for the emulator's front, TLS verified against the emulator's CA. */
export function emulatorPg(emu: Emu) {
  return { host: emu.pg.host, port: emu.pg.port, database: emu.pg.database, ssl: { ca: emu.ca } }
}

/** A logger that keeps every line, to check that no secret reaches it. */
export function recordingLogger() {
  const lines: string[] = []
  const record = (level: string) => (message: string, fields?: Record<string, unknown>) =>
    lines.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`)
  return {
    lines,
    logger: { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') },
  }
}
