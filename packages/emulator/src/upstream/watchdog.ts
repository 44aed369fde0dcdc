// A server the emulator starts (PostgreSQL, PgBouncer) must not outlive it. An orderly exit stops them (`exit`
// hooks, stop()); a `kill -9` runs no hook, so a watchdog does it: a shell that waits for this process to go, then
// interrupts the server (SIGINT: PostgreSQL's fast shutdown), waits for it and removes its run directory.
import { spawn } from 'node:child_process'

const SCRIPT = `
while kill -0 "$1" 2>/dev/null; do sleep 1; done
kill -INT "$2" 2>/dev/null
while kill -0 "$2" 2>/dev/null; do sleep 1; done
rm -rf "$3"
`

export interface Watchdog {
  /** For an orderly stop: the watchdog goes, the server is the caller's to stop. */
  stop(): void
}

export function watchOrphan(server: { pid: number; runDir: string }): Watchdog {
  let watchdog: ReturnType<typeof spawn> | undefined
  try {
    watchdog = spawn(
      'sh',
      ['-c', SCRIPT, 'pg-entra-emulator-watchdog', String(process.pid), String(server.pid), server.runDir],
      {
        detached: true,
        stdio: 'ignore',
      },
    )
    watchdog.on('error', () => {}) // no sh: the orderly exit hooks still stop the server
    watchdog.unref()
  } catch {
    watchdog = undefined
  }
  return {
    stop() {
      if (watchdog?.pid === undefined || watchdog.exitCode !== null) return
      try {
        process.kill(-watchdog.pid, 'SIGKILL') // the shell and its sleep: it leads a group of its own (detached)
      } catch {}
    },
  }
}
