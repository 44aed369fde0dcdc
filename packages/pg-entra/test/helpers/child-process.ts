// Child Node processes that run TypeScript fixtures (through tsx) and talk line by line over stdio.
import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'

export interface LineChild {
  readonly process: ChildProcess
  /** Resolves with the next line the child prints on stdout. */
  nextLine(): Promise<string>
  send(line: string): void
  /** Resolves when the child has exited (killing it first if `signal` is given). */
  exit(signal?: NodeJS.Signals): Promise<number | null>
  stderr(): string
}

export function spawnTsChild(script: string, args: string[], env: NodeJS.ProcessEnv = {}): LineChild {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  })
  const lines: string[] = []
  const waiting: Array<(line: string) => void> = []
  let errors = ''
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const waiter = waiting.shift()
    if (waiter) waiter(line)
    else lines.push(line)
  })
  child.stderr!.on('data', (chunk: Buffer) => {
    errors += chunk.toString()
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return {
    process: child,
    nextLine() {
      const line = lines.shift()
      if (line !== undefined) return Promise.resolve(line)
      return new Promise((resolve, reject) => {
        waiting.push(resolve)
        exited.then((code) => reject(new Error(`child exited (${code}) before printing a line:\n${errors}`)))
      })
    },
    send(line) {
      child.stdin!.write(`${line}\n`)
    },
    async exit(signal) {
      if (signal && child.exitCode === null && child.signalCode === null) child.kill(signal)
      return exited
    },
    stderr: () => errors,
  }
}
