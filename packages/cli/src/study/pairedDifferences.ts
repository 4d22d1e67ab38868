/** The difference of two arms' scores on one metric, paired by seed (see `pairedDifferences`). */
export interface PairedDifferences {
  /** The seeds both arms have a score for, ascending. */
  readonly seeds: ReadonlyArray<number>
  readonly n: number
  /** mean over the common seeds of a_s - b_s (= mean(A) - mean(B) over those seeds); undefined for n = 0. */
  readonly d: number | undefined
  /** Sample std of the per-seed differences a_s - b_s; undefined for n < 2. */
  readonly sd: number | undefined
  /** sqrt(s_A^2 + s_B^2), s_A and s_B the sample stds of A and B over the common seeds; undefined for n < 2. */
  readonly unpairedStd: number | undefined
  /** |d| > 2 sd; undefined for n < 2. */
  readonly paired: boolean | undefined
  /** |d| > 2 unpairedStd; undefined for n < 2. */
  readonly unpaired: boolean | undefined
}

/** Sample variance (n - 1 in the denominator) of at least two values. */
const sampleVariance = (xs: ReadonlyArray<number>): number => {
  const mean = xs.reduce((a, x) => a + x, 0) / xs.length
  return xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1)
}

/**
 * Arm A against arm B on one metric, `a` and `b` mapping seed -> score. Over S, the seeds both
 * have (n = |S|), with δ_s = a_s - b_s:
 *
 *   d           = (1/n) Σ_{s∈S} δ_s                     = mean_S(A) - mean_S(B)
 *   sd          = sqrt( Σ_{s∈S} (δ_s - d)² / (n - 1) )  the sample std of the paired differences
 *   unpairedStd = sqrt( s_A² + s_B² )                   s_A, s_B: sample stds of A and B over S
 *   paired      = |d| > 2 sd
 *   unpaired    = |d| > 2 unpairedStd
 *
 * A seed gives every arm the same student initialisation, data order and augmentations, so the
 * arms' scores co-vary across seeds: sd² = s_A² + s_B² - 2 cov_S(A, B). `unpaired` treats the two
 * runs as independent (it ignores the covariance); `paired` removes the variance they share.
 * Both compare |d| with the spread of one seed's difference, not with the standard error of d
 * (sd / sqrt(n)): a coarse two-std screen, not a significance test. For n < 2 there is no std
 * and no flag; for n = 0 no d either.
 */
export const pairedDifferences = (a: ReadonlyMap<number, number>, b: ReadonlyMap<number, number>): PairedDifferences => {
  const seeds = [...a.keys()].filter((s) => b.has(s)).sort((x, y) => x - y)
  const n = seeds.length
  const as = seeds.map((s) => a.get(s)!)
  const bs = seeds.map((s) => b.get(s)!)
  const deltas = seeds.map((_, i) => as[i]! - bs[i]!)
  const d = n === 0 ? undefined : deltas.reduce((acc, x) => acc + x, 0) / n
  if (d === undefined || n < 2) return { seeds, n, d, sd: undefined, unpairedStd: undefined, paired: undefined, unpaired: undefined }
  const sd = Math.sqrt(sampleVariance(deltas))
  const unpairedStd = Math.sqrt(sampleVariance(as) + sampleVariance(bs))
  return { seeds, n, d, sd, unpairedStd, paired: Math.abs(d) > 2 * sd, unpaired: Math.abs(d) > 2 * unpairedStd }
}
