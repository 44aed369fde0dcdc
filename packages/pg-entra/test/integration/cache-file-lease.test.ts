// The file store's lease across real processes: one winner in a race, and recovery from a holder that was killed.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, expect, it } from 'vitest'
import { fileCache } from '../../src/cache/file-cache.js'
import { type LineChild, spawnTsChild } from '../helpers/child-process.js'

const CHILD = join(import.meta.dirname, 'fixtures', 'file-lease-child.ts')
const KEY = 'https://login.example/tenant-a|client-a|https://ossrdbms-aad.database.windows.net/.default'

let dir: string
const children: LineChild[] = []
beforeEach(() => {
  dir = join(mkdtempSync(join(tmpdir(), 'pg-entra-file-lease-')), 'cache')
})
afterEach(async () => {
  await Promise.all(children.splice(0).map((child) => child.exit('SIGKILL')))
  rmSync(join(dir, '..'), { recursive: true, force: true })
})

async function start(count: number): Promise<LineChild[]> {
  const started = Array.from({ length: count }, () => spawnTsChild(CHILD, [dir]))
  children.push(...started)
  for (const child of started) expect(await child.nextLine()).toBe('ready')
  return started
}

it('gives the lease to exactly one of many processes racing for it', async () => {
  const racers = await start(6)
  for (let round = 0; round < 3; round++) {
    const key = `${KEY}#${round}`
    for (const child of racers) child.send(`acquire ${key} 60000`)
    const results = await Promise.all(racers.map((child) => child.nextLine()))
    expect(results.filter((result) => result === 'won')).toHaveLength(1)
    expect(results.filter((result) => result === 'lost')).toHaveLength(racers.length - 1)
  }
  for (const child of racers) expect(child.stderr()).toBe('')
})

it('recovers the lease from a process killed while holding it', async () => {
  const [holder] = await start(1)
  holder!.send(`acquire ${KEY} 600000`)
  expect(await holder!.nextLine()).toBe('won')

  const store = fileCache({ dir })
  expect(await store.acquireLease(KEY, 30_000)).toBeUndefined()
  await holder!.exit('SIGKILL')
  const lease = await store.acquireLease(KEY, 30_000)
  expect(lease).toBeDefined()

  const [next] = await start(1)
  next!.send(`acquire ${KEY} 30000`)
  expect(await next!.nextLine()).toBe('lost')
  await lease!.release()
  next!.send(`acquire ${KEY} 30000`)
  expect(await next!.nextLine()).toBe('won')
})
