// Prints one line of counts from vitest's JSON report: `node tools/test/vitest-counts.mjs report.json SECONDS LABEL`.
// Under that line it names each failed test (or file that did not run) with the first lines of its failure, so
// that a CI log's tail says what failed. With --total, sums several reports into the closing line CI reads:
// `matrix: N passed, N failed, N skipped`.
import { readFileSync } from 'node:fs'
import { relative } from 'node:path'

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

/** `  ✗ file > test` and the first lines of each failure; a report that cannot be read says so. */
function failures(path) {
  let report
  try {
    report = JSON.parse(readFileSync(path, 'utf8'))
  } catch (error) {
    return [`  ✗ no report at ${path}: ${error.message}`]
  }
  const lines = []
  const excerpt = (message) =>
    String(message)
      .split('\n')
      .filter((text) => text.trim() !== '')
      .slice(0, 4)
      .map((text) => `      ${text.slice(0, 300)}`)
  for (const file of report.testResults ?? []) {
    const name = relative(process.cwd(), file.name)
    const failedTests = (file.assertionResults ?? []).filter((test) => test.status === 'failed')
    for (const test of failedTests) {
      lines.push(`  ✗ ${name} > ${test.fullName}`, ...excerpt(test.failureMessages?.[0] ?? ''))
    }
    if (file.status === 'failed' && failedTests.length === 0) {
      lines.push(`  ✗ ${name} (the file failed outside its tests)`, ...excerpt(file.message ?? ''))
    }
  }
  return lines
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
  const [path, seconds, ...label] = args
  console.log([`${label.join(' ')}: ${line(counts(path))} (${seconds} s)`, ...failures(path)].join('\n'))
}
