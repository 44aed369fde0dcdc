// Every ```ts snippet of the READMEs and of docs/**/*.md runs as pasted against the suite's emulator, with only the environment that
// `pg-entra-emulator start` prints: a snippet that needs something else is wrong. A snippet that cannot run alone
// (it uses a client of yours) says so with `<!-- snippet twin: <test file> -->` on the line before it, and that test
// must exist.
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { uniqueName, useEmulator } from './emulator.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const DOCUMENTS = [
  'README.md',
  'packages/pg-entra/README.md',
  ...readdirSync(join(root, 'docs'), { recursive: true, encoding: 'utf8' })
    .filter((path) => path.endsWith('.md'))
    .map((path) => join('docs', path))
    .sort(),
]

interface Snippet {
  file: string
  line: number
  code: string
  twin?: string
}

function snippetsOf(file: string, text: string): Snippet[] {
  const lines = text.split('\n')
  const found: Snippet[] = []
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '```ts') continue
    const end = lines.findIndex((line, j) => j > i && line.trim() === '```')
    const twin = /<!--\s*snippet twin:\s*(\S+)\s*-->/.exec(lines[i - 1] ?? '')?.[1]
    found.push({ file, line: i + 1, code: lines.slice(i + 1, end).join('\n'), ...(twin ? { twin } : {}) })
    i = end
  }
  return found
}

const snippets = DOCUMENTS.flatMap((file) => snippetsOf(file, readFileSync(join(root, file), 'utf8')))
// Inside the repository, so that `pg-entra`, `pg-entra-emulator` and the drivers resolve as in an application.
const dir = join(root, 'tools', 'test', `.snippets-${process.pid}`)
// Directories the snippets write to by their documented paths (docs/caching.md's file cache): removed after the run
// unless they were there before it.
const writtenBySnippets = ['/dev/shm/myapp-pg-entra'].filter((path) => !existsSync(path))
afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
  for (const path of writtenBySnippets) rmSync(path, { recursive: true, force: true })
})

function run(
  file: string,
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // Nothing ambient: the snippet gets the emulator's variables, not the developer's PG* or AZURE_*.
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/^(PG|AZURE_|IDENTITY_|MSI_)/.test(name)),
  )
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: root,
      env: { ...base, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

/** What `pg-entra-emulator start --profile service-principal` prints, for a service principal of the snippet's own. */
async function environmentFor(): Promise<{ env: Record<string, string>; role: string }> {
  const emulator = await useEmulator()
  const name = uniqueName('readme-sp')
  const principal = await emulator.addPrincipal({ kind: 'servicePrincipal', name })
  return { env: emulator.env({ profile: 'service-principal', principal: name }), role: principal.roleName ?? name }
}

describe('documentation snippets', () => {
  it('finds the snippets', () => {
    expect(snippets.length).toBeGreaterThanOrEqual(30)
    expect(new Set(snippets.map((s) => s.file)).size).toBeGreaterThanOrEqual(15)
  })

  it.each(snippets.map((s) => [`${s.file}:${s.line}`, s] as const))('%s runs as pasted', async (_where, snippet) => {
    if (snippet.twin) {
      expect(existsSync(join(root, snippet.twin)), `${snippet.twin} (the snippet's twin) is missing`).toBe(true)
      return
    }
    mkdirSync(dir, { recursive: true })
    const file = join(dir, `${snippet.file.replace(/\W+/g, '-')}-${snippet.line}.ts`)
    writeFileSync(file, snippet.code)
    // A snippet that starts its own emulator gets no environment (the emulator's own PG* would point at the suite's).
    const { env, role } = snippet.code.includes('startEmulator(') ? { env: {}, role: '' } : await environmentFor()
    const result = await run(file, env)

    expect(result.code, result.stderr + result.stdout).toBe(0)
    expect(result.stderr).toBe('')
    // A snippet that prints the user connects as the principal's role.
    if (snippet.code.includes('current_user')) expect(result.stdout.trim()).toBe(role)
  })
})
