// Prints one line of counts from vitest's JSON report: `node tools/test/vitest-counts.mjs report.json LABEL`.
// With --total, sums several reports into the closing line CI reads: `matrix: N passed, N failed, N skipped`.
import { readFileSync } from 'node:fs'

const args = process.argv.slice(2)
const total = args[0] === '--total'

/** Counts of one report; a report that is missing or unreadable counts as one failure (the run did not finish). */
function counts(path) {
  try {
    const report = JSON.parse(readFileSync(path, 'utf8'))
    // A file that failed without a failed test (it did not load, or a hook threw) counts as one failure.
    const brokenFiles = (report.testResults ?? []).filter(
      (file) => file.status === 'failed' && !(file.assertionResults ?? []).some((test) => test.status === 'failed'),
    ).length
    return {
      passed: report.numPassedTests,
      failed: report.numFailedTests + brokenFiles,
      skipped: report.numPendingTests + report.numTodoTests,
    }
  } catch {
    return { passed: 0, failed: 1, skipped: 0 }
  }
}

const line = ({ passed, failed, skipped }) => `${passed} passed, ${failed} failed, ${skipped} skipped`

if (total) {
  const sum = { passed: 0, failed: 0, skipped: 0 }
  for (const path of args.slice(1)) {
    const c = counts(path)
    sum.passed += c.passed
    sum.failed += c.failed
    sum.skipped += c.skipped
  }
  console.log(`matrix: ${line(sum)}`)
} else {
  const [path, ...label] = args
  console.log(`${label.join(' ')}: ${line(counts(path))}`)
}
