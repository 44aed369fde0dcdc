import { describe, expect, it } from 'vitest'
import { manualClock } from '../../src/shared/manual-clock.js'

describe('manualClock', () => {
  it('fires due timers in order of due time, then of creation, including timers set while firing', () => {
    const clock = manualClock(1_000)
    const fired: string[] = []
    clock.setTimer(300, () => fired.push(`c@${clock.now()}`))
    clock.setTimer(100, () => {
      fired.push(`a@${clock.now()}`)
      clock.setTimer(50, () => fired.push(`nested@${clock.now()}`))
    })
    clock.setTimer(100, () => fired.push(`b@${clock.now()}`))
    const cancelled = clock.setTimer(200, () => fired.push('cancelled'))
    cancelled.cancel()
    expect(clock.pending()).toBe(3)
    expect(clock.nextTimerAt()).toBe(1_100)
    clock.advance(299)
    expect(fired).toEqual(['a@1100', 'b@1100', 'nested@1150'])
    expect(clock.now()).toBe(1_299)
    expect(clock.pending()).toBe(1)
    clock.advance(1)
    expect(fired).toEqual(['a@1100', 'b@1100', 'nested@1150', 'c@1300'])
    expect(clock.pending()).toBe(0)
  })

  it('lets promise chains run between timers with advanceAsync', async () => {
    const clock = manualClock(0)
    const fired: number[] = []
    const loop = async () => {
      for (let i = 0; i < 3; i++) {
        await new Promise<void>((resolve) => clock.setTimer(10, resolve))
        await Promise.resolve()
        fired.push(clock.now())
      }
    }
    const done = loop()
    await clock.advanceAsync(30)
    await done
    expect(fired).toEqual([10, 20, 30])
  })
})
