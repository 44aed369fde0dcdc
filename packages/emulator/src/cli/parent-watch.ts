// A foreground emulator ends with the process that started it: `npx pg-entra-emulator start & kill $!` kills npm
// exec, which does not pass SIGTERM on; the emulator is then re-parented, and its parent pid changes.

export function parentGone(intervalMs = 1_000): { gone: Promise<void>; cancel(): void } {
  const parent = process.ppid
  let timer: NodeJS.Timeout | undefined
  const gone = new Promise<void>((resolve) => {
    timer = setInterval(() => {
      if (process.ppid !== parent) resolve()
    }, intervalMs)
  })
  return { gone, cancel: () => clearInterval(timer) }
}
