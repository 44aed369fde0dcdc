// Prints one line of counts from vitest's JSON report: `node tools/test/vitest-counts.mjs report.json SECONDS LABEL`.
// Under that line it names each failed test (or file that did not run) with the first lines of its failure, so
// that a CI log's tail says what failed. With --total, sums several reports into the closing line CI reads:
// `matrix: N passed, N failed, N skipped`.
import { readFileSync } from 'node:fs'
import { relative } from 'node:path'

const args = process.argv.slice(2)
const total = args[0] === '--total'

/** The parsed report, or the error that kept it from being read (the run did not finish). */
function read(path) {
  try {
    return { report: JSON.parse(readFileSync(path, 'utf8')) }
  } catch (error) {
    return { error }
  }
}

const failedTestsOf = (file) => (file.assertionResults ?? []).filter((test) => test.status === 'failed')
/** A file that failed without a failed test: it did not load, or a hook threw. */
const failedOutsideTests = (file) => file.status === 'failed' && failedTestsOf(file).length === 0

/** Counts of one report; one that is missing or unreadable counts as one failure. Each broken file counts as one. */
function counts({ report }) {
  if (!report) return { passed: 0, failed: 1, skipped: 0 }
  return {
    passed: report.numPassedTests,
    failed: report.numFailedTests + (report.testResults ?? []).filter(failedOutsideTests).length,
    skipped: report.numPendingTests + report.numTodoTests,
  }
}

const excerpt = (message) =>
  String(message)
    .split('\n')
    .filter((text) => text.trim() !== '')
    .slice(0, 4)
    .map((text) => `      ${text.slice(0, 300)}`)

/** `  ✗ file > test` and the first lines of each failure; a report that cannot be read says so. */
function failures({ report, error }, path) {
  if (!report) return [`  ✗ no report at ${path}: ${error.message}`]
  const lines = []
  for (const file of report.testResults ?? []) {
    const name = relative(process.cwd(), file.name)
    for (const test of failedTestsOf(file)) {
      lines.push(`  ✗ ${name} > ${test.fullName}`, ...excerpt(test.failureMessages?.[0] ?? ''))
    }
    if (failedOutsideTests(file)) {
      lines.push(`  ✗ ${name} (the file failed outside its tests)`, ...excerpt(file.message ?? ''))
    }
  }
  return lines
}

const line = ({ passed, failed, skipped }) => `${passed} passed, ${failed} failed, ${skipped} skipped`

if (total) {
  const sum = { passed: 0, failed: 0, skipped: 0 }
  for (const path of args.slice(1)) {
    const c = counts(read(path))
    sum.passed += c.passed
    sum.failed += c.failed
    sum.skipped += c.skipped
  }
  console.log(`matrix: ${line(sum)}`)
} else {
  const [path, seconds, ...label] = args
  const result = read(path)
  console.log([`${label.join(' ')}: ${line(counts(result))} (${seconds} s)`, ...failures(result, path)].join('\n'))
}
