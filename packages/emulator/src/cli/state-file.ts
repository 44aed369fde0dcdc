// Where `start` records the running emulator, so that `token` in another shell finds it.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { EmulatorError } from '../env.js'

export interface StateFile {
  controlUrl: string
  pid: number
  profile: string
  principal: string
  startedAt: string
}

export function stateFilePath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PG_ENTRA_EMULATOR_STATE) return env.PG_ENTRA_EMULATOR_STATE
  const cache = env.XDG_CACHE_HOME || join(homedir(), '.cache')
  return join(cache, 'pg-entra-emulator', 'current.json')
}

export async function writeStateFile(path: string, state: StateFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  await writeFile(path, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 })
}

/** Removes the state file if it still describes this process's emulator. */
export async function removeStateFile(path: string, pid: number): Promise<void> {
  const current = await readStateFile(path).catch(() => undefined)
  if (current?.pid === pid) await rm(path, { force: true })
}

function alive(pid: number): boolean {
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
      `the emulator recorded in ${path} (pid ${state.pid}) is no longer running`,
      'start one with `pg-entra-emulator start`',
    )
  }
  return state
}
