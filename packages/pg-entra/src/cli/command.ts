import type { Output } from './output.js'

export interface CommandContext {
  output: Output
  env: Record<string, string | undefined>
}

export interface Command {
  name: string
  summary: string
  help: string
  /** Resolves to the process exit code. */
  run(args: string[], context: CommandContext): Promise<number>
}
