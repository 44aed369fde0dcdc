// Where `start` records a running emulator, one file per instance name, so that `token`, `status` and `stop` in
// another shell find it. A file whose emulator still runs is never overwritten.
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { EmulatorError } from '../env.js'

export interface StateFile {
  name: string
  controlUrl: string
  pid: number
  profile: string
  principal: string
  startedAt: string
  /** what `start` printed, so that `start --detach` and `status` can print it again */
  env?: Record<string, string>
}

export const DEFAULT_NAME = 'default'

/** PG_ENTRA_EMULATOR_STATE names the file outright; otherwise one file per instance name in the user's cache. */
export function stateFilePath(name: string = DEFAULT_NAME, env: NodeJS.ProcessEnv = process.env): string {
  if (env.PG_ENTRA_EMULATOR_STATE) return env.PG_ENTRA_EMULATOR_STATE
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name) || name.startsWith('.')) {
    throw new EmulatorError('BAD_ARGUMENTS', `invalid instance name "${name}"`, 'use letters, digits, ".", "_" or "-"')
  }
  const cache = env.XDG_CACHE_HOME || join(homedir(), '.cache')
  return join(cache, 'pg-entra-emulator', `${name}.json`)
}

/** EMULATOR_ALREADY_RUNNING for the emulator `running` describes, with the stop command for its name. */
export function alreadyRunning(running: StateFile, path: string): EmulatorError {
  const name = running.name ?? DEFAULT_NAME
  const stop = `pg-entra-emulator stop${name === DEFAULT_NAME ? '' : ` --name ${name}`}`
  return new EmulatorError(
    'EMULATOR_ALREADY_RUNNING',
    `an emulator named "${name}" is already running (pid ${running.pid}, state in ${path})`,
    `stop it with \`${stop}\`, or start another with --name NAME`,
  )
}

/** Records this process's emulator; refuses while the file describes another emulator that still runs. */
export async function claimStateFile(path: string, state: StateFile): Promise<void> {
  const current = await readStateFile(path).catch(() => undefined)
  if (current && current.pid !== state.pid) throw alreadyRunning({ ...current, name: current.name ?? state.name }, path)
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  await writeFile(path, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 })
}

/** Removes the state file if it still describes this process's emulator. */
export async function removeStateFile(path: string, pid: number): Promise<void> {
  const current = await readStateFile(path).catch(() => undefined)
  if (current?.pid === pid) await rm(path, { force: true })
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export async function readStateFile(path: string): Promise<StateFile> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch {
    throw new EmulatorError(
      'NO_RUNNING_EMULATOR',
      `no running emulator recorded in ${path}`,
      'start one with `pg-entra-emulator start` (in another shell), or set PG_ENTRA_EMULATOR_URL',
    )
  }
  let state: StateFile
  try {
    state = JSON.parse(text) as StateFile
  } catch {
    throw new EmulatorError('BAD_STATE_FILE', `${path} is not JSON`, 'delete it and start the emulator again')
  }
  if (typeof state.controlUrl !== 'string' || typeof state.pid !== 'number') {
    throw new EmulatorError('BAD_STATE_FILE', `${path} has no controlUrl/pid`, 'delete it and start the emulator again')
  }
  if (!alive(state.pid)) {
    throw new EmulatorError(
      'NO_RUNNING_EMULATOR',
      `the emulator recorded in ${path} (pid ${state.pid}) is not running`,
      'start one with `pg-entra-emulator start`',
    )
  }
  return state
}

/** The names of the emulators whose state files sit next to `path` and whose process still runs. */
export async function runningNames(path: string): Promise<string[]> {
  const files = await readdir(dirname(path)).catch(() => [] as string[])
  const names: string[] = []
  for (const file of files.filter((f) => f.endsWith('.json')).sort()) {
    const state = await readStateFile(join(dirname(path), file)).catch(() => undefined)
    if (state) names.push(state.name ?? file.slice(0, -'.json'.length))
  }
  return names
}
