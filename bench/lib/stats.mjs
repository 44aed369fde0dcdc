export function percentile(values, p) {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[index]
}

export const median = (values) => percentile(values, 50)

export const round = (value, digits = 2) => (Number.isFinite(value) ? Number(value.toFixed(digits)) : value)

/** The median of `values` and their range: how far apart repeated runs of one scenario landed. */
export function summarize(values) {
  const finite = values.filter((value) => Number.isFinite(value))
  if (finite.length === 0) return { median: null, spread: null }
  return { median: median(finite), spread: [Math.min(...finite), Math.max(...finite)] }
}

/**
 * The rate of `subject` against `baseline` from blocks that ran in turn (block i of each, next to each other): the
 * median over the rounds of baseline time / subject time. Drift on a shared machine moves both blocks of a round, so
 * it cancels here, where a ratio of two medians would still carry it.
 */
export function pairedRateRatio(subjectBlockMs, baselineBlockMs) {
  const rounds = Math.min(subjectBlockMs.length, baselineBlockMs.length)
  const ratios = []
  for (let i = 0; i < rounds; i++) ratios.push(baselineBlockMs[i] / subjectBlockMs[i])
  return median(ratios)
}
