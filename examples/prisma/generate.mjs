// Generates the Prisma client into ./generated (git-ignored) without network access: Prisma 7's CLI first tries to
// download a native schema engine, which `generate` does not need (it runs on WebAssembly). Pointing the engine at
// an executable that is never run and the mirror at a closed loopback port keeps every attempt on this machine.
// Run: node examples/prisma/generate.mjs
import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const prismaCli = createRequire(import.meta.url).resolve('prisma/build/index.js')

execFileSync(process.execPath, [prismaCli, 'generate', '--schema', join(here, 'schema.prisma')], {
  // from a directory without prisma.config.ts: generate needs no datasource URL
  cwd: join(here, '..'),
  stdio: ['ignore', 'inherit', 'inherit'],
  env: {
    ...process.env,
    PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? '/bin/false',
    PRISMA_ENGINES_MIRROR: process.env.PRISMA_ENGINES_MIRROR ?? 'http://127.0.0.1:9',
    CHECKPOINT_DISABLE: '1',
    PRISMA_HIDE_UPDATE_MESSAGE: '1',
  },
})
