/** Case, `_` and `-` do not count: `tenant_id` and `TenantID` are both one step from `tenantId`. */
const squash = (name: string) => name.toLowerCase().replace(/[_-]/g, '')

/**
 * Edits (insertion, deletion, substitution, or swap of neighbours) that turn `a` into `b`: the optimal string
 * alignment distance, so that `clientSecert` is one edit from `clientSecret`.
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1
  const cols = b.length + 1
  const d: number[][] = Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  )
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1)
      d[i]![j] = best
    }
  }
  return d[a.length]![b.length]!
}

/**
 * The known name closest to `typed`, when it is within two edits (one for names of up to four letters) once case,
 * `_` and `-` are ignored; undefined when none is that close, so that an unrelated name gets no false suggestion.
 */
export function closestName(typed: string, known: readonly string[]): string | undefined {
  const wanted = squash(typed)
  const limit = wanted.length <= 4 ? 1 : 2
  let best: { name: string; distance: number } | undefined
  for (const name of known) {
    const distance = editDistance(wanted, squash(name))
    if (distance <= limit && (best === undefined || distance < best.distance)) best = { name, distance }
  }
  return best?.name
}
