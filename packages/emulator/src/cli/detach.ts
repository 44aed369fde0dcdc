// `start --detach`: the same `start` in a child process of its own session, its log in a file; returns the
// environment the child printed once it is ready, and leaves it running.
import { spawn } from 'node:child_process'
import { mkdir, open, readFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { EmulatorError } from '../env.js'

const WITHOUT_VALUE = new Set(['--detach', '--json'])
const WITH_VALUE = new Set(['--write-env'])

export async function startDetached(args: string[], statePath: string): Promise<Record<string, string>> {
  const childArgs: string[] = []
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    const [flag] = arg.split('=', 1)
    if (WITHOUT_VALUE.has(arg)) continue
    if (WITH_VALUE.has(flag!)) {
      if (!arg.includes('=')) i++
      continue
    }
    childArgs.push(arg)
  }
  const logPath = `${statePath.replace(/\.json$/, '')}.log`
  await mkdir(dirname(logPath), { recursive: true, mode: 0o700 })
  const log = await open(logPath, 'w', 0o600)
  const script = process.argv[1]
  if (!script)
    throw new EmulatorError('INTERNAL', 'cannot tell which script to run detached', 'run start without --detach')
  const child = spawn(
    process.execPath,
    [...process.execArgv, script, 'start', ...childArgs, '--json', '--detached-child'],
    {
      detached: true,
      stdio: ['ignore', 'pipe', log.fd],
      env: process.env,
    },
  )
  await log.close()
  try {
    const line = await firstLine(child)
    child.stdout?.destroy()
    child.unref()
    return JSON.parse(line) as Record<string, string>
  } catch (e) {
    if (child.exitCode === null) child.kill('SIGTERM')
    const tail = (await readFile(logPath, 'utf8').catch(() => '')).trim().split('\n').slice(-8).join('\n')
    throw new EmulatorError(
      'START_FAILED',
      `the detached emulator did not start${tail ? `:\n${tail}` : ''}`,
      `see ${logPath}`,
      { cause: e },
    )
  }
}

function firstLine(child: ReturnType<typeof spawn>): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = ''
    child.stdout?.setEncoding('utf8')
    child.stdout?.on('data', (chunk: string) => {
      text += chunk
      const end = text.indexOf('\n')
      if (end >= 0) resolve(text.slice(0, end))
    })
    child.once('exit', (code, signal) => reject(new Error(`exited (${signal ?? `code ${code}`}) before it was ready`)))
    child.once('error', reject)
  })
}
