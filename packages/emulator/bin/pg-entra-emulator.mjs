#!/usr/bin/env node
// Committed (not built) so that npm links the command at install time, before dist/ exists in a fresh clone.
import { existsSync } from 'node:fs'

const cli = new URL('../dist/cli.mjs', import.meta.url)
if (!existsSync(cli)) {
  process.stderr.write(
    'pg-entra-emulator: dist/cli.mjs is missing: run `npm run build` first (in a clone of the repository)\n',
  )
  process.exit(1)
}
await import(cli.href)
