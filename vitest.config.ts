import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'examples/test/**/*.test.ts', 'tools/test/**/*.test.ts'],
    globalSetup: ['tools/test/global-setup.ts'],
    setupFiles: ['tools/test/setup-file.ts'],
    pool: 'forks',
    // Most integration files spend their time waiting for tokens to roll over, not on the CPU: run several at once
    // even on a 2-core machine. They share one emulator and isolate themselves by principal.
    maxWorkers: 5,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    coverage: {
      provider: 'v8',
      include: ['packages/*/src/**/*.ts'],
      reporter: ['text-summary', 'html', 'json-summary'],
    },
  },
})
