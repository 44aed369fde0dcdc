// What `npm publish` would put in each tarball: `npm pack --dry-run --json` for both packages, checked against their
// package.json (every export and bin target present), with no tests, no sources and no sources embedded in maps.
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)
const packages = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

interface PackResult {
  name: string
  unpackedSize: number
  files: { path: string }[]
}

async function pack(dir: string): Promise<PackResult> {
  // --ignore-scripts: the suite built dist already; a prepack script must not rebuild it under the test.
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: dir,
    maxBuffer: 16 * 1024 * 1024,
  })
  return (JSON.parse(stdout) as PackResult[])[0]!
}

/** Every file path an exports map names (conditions nested at any depth). */
function exportTargets(value: unknown): string[] {
  if (typeof value === 'string') return [value]
  if (value && typeof value === 'object') return Object.values(value).flatMap(exportTargets)
  return []
}

const relative = (path: string) => path.replace(/^\.\//, '')

describe.each([
  ['pg-entra', 'pg-entra', 1_200_000],
  ['emulator', 'pg-entra-emulator', 700_000],
])('the %s tarball', (folder, name, maxUnpackedBytes) => {
  const dir = join(packages, folder)
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
    exports: Record<string, unknown>
    bin: Record<string, string>
    main: string
    module: string
    types: string
  }

  it(`holds ${name}'s README, LICENSE, package.json, every export and bin target, and nothing else`, async () => {
    const result = await pack(dir)
    const files = result.files.map((f) => f.path)
    expect(result.name).toBe(name)
    expect(files).toEqual(expect.arrayContaining(['README.md', 'LICENSE', 'package.json']))

    const targets = [
      ...exportTargets(manifest.exports),
      ...Object.values(manifest.bin),
      manifest.main,
      manifest.module,
      manifest.types,
      'dist/cli.mjs', // what the bin stubs import
    ].map(relative)
    expect(targets.filter((target) => !files.includes(target))).toEqual([])

    const unexpected = files.filter(
      (path) =>
        !['README.md', 'LICENSE', 'package.json'].includes(path) &&
        !/^dist\/[\w./-]+\.(mjs|cjs|d\.mts|d\.cts|mjs\.map|cjs\.map)$/.test(path) &&
        !/^bin\/[\w-]+\.mjs$/.test(path),
    )
    expect(unexpected).toEqual([])
    expect(files.filter((path) => /(^|\/)(test|src)\/|\.test\.|\.ts$(?<!\.d\.[mc]ts)/.test(path))).toEqual([])
    expect(result.unpackedSize).toBeLessThan(maxUnpackedBytes)
  })

  it('ships source maps without the sources embedded', async () => {
    const maps = (await pack(dir)).files.map((f) => f.path).filter((path) => path.endsWith('.map'))
    expect(maps.length).toBeGreaterThan(0)
    const withSources = maps.filter((path) => {
      const map = JSON.parse(readFileSync(join(dir, path), 'utf8')) as { sourcesContent?: unknown[] }
      return (map.sourcesContent ?? []).some((content) => content != null)
    })
    expect(withSources).toEqual([])
  })

  it('declares its bin as npm publishes it (no leading ./, which `npm publish` rewrites with a warning)', () => {
    // `npm publish --dry-run` itself asks the registry, which the suite's loopback guard refuses: run by hand.
    for (const target of Object.values(manifest.bin)) expect(target).toMatch(/^bin\/[\w-]+\.mjs$/)
  })

  it('names its repository, homepage, issue tracker, author and keywords', () => {
    const meta = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
    expect(meta).toMatchObject({
      repository: { type: 'git', url: 'git+https://github.com/pg-entra/pg-entra.git', directory: `packages/${folder}` },
      homepage: expect.stringMatching(/^https:\/\/github\.com\/pg-entra\/pg-entra/),
      bugs: { url: 'https://github.com/pg-entra/pg-entra/issues' },
      author: expect.any(String),
      license: 'MIT',
    })
    expect(meta.keywords.length).toBeGreaterThanOrEqual(5)
  })
})
