import { Rng } from "@bingo/runtime"
import { linearProbe, type LinearProbeOptions, type ProbeScore } from "./linearProbe.ts"

/**
 * Seed of the labelled subsets: fixed, and independent of a run's seed, so every run (every
 * cell of a study, whatever its seed) probes on the same labelled images.
 */
export const semiSupervisedSubsetSeed = 0

/**
 * The score name of a semi-supervised probe: `labels1pctTop1` for 1% of the labels, then
 * `labels10pctTop5`, `labels0.5pctTop1`, ... (the percentage to 4 significant digits).
 */
export const semiSupervisedMetric = (fraction: number, rank: "Top1" | "Top5"): `labels${string}pct${"Top1" | "Top5"}` =>
  `labels${Number((100 * fraction).toPrecision(4))}pct${rank}`

/**
 * The labelled subset of the semi-supervised setting (the paper's 1% / 10% of ImageNet's
 * labels): a fixed, class-balanced sample of the training indices. Every class contributes the
 * same fraction of its images, `floor(fraction * n_c)` of its n_c images but at least one
 * (a class too small for the fraction keeps one labelled image instead of vanishing; a
 * fraction never asks for more images than a class has, so there is no error case). A class
 * balanced training set thus gives the same count per class.
 *
 * Each class's images are shuffled once by a generator seeded with `seed` and the subset takes
 * a prefix of each, so for one seed a smaller fraction's subset lies inside a larger one's
 * (the 1% images are among the 10%). Returns the indices in ascending order.
 */
export const semiSupervisedSubset = (labels: Int32Array, fraction: number, seed: number = semiSupervisedSubsetSeed): Int32Array => {
  if (!(fraction > 0 && fraction <= 1)) throw new RangeError(`a labelled fraction must be in (0, 1], got ${fraction}`)
  const byClass = new Map<number, Array<number>>()
  for (let i = 0; i < labels.length; i++) {
    const members = byClass.get(labels[i]!)
    if (members === undefined) byClass.set(labels[i]!, [i])
    else members.push(i)
  }
  const rng = Rng.fromSeed(seed)
  const picked: Array<number> = []
  for (const label of [...byClass.keys()].sort((a, b) => a - b)) {
    const members = byClass.get(label)!
    // Fisher-Yates over the whole class, so the order (and every prefix) does not depend on the fraction
    for (let i = members.length - 1; i > 0; i--) {
      const j = rng.int(i + 1)
      const t = members[i]!
      members[i] = members[j]!
      members[j] = t
    }
    picked.push(...members.slice(0, Math.max(1, Math.floor(fraction * members.length))))
  }
  return Int32Array.from(picked.sort((a, b) => a - b))
}

/**
 * The semi-supervised linear probe: `linearProbe` trained on the frozen features of the
 * labelled subset only (`semiSupervisedSubset(train.labels, fraction)`), scored on the whole
 * test split. `rng` drives the probe's SGD order, as in the full probe.
 */
export const semiSupervisedProbe = (
  train: { readonly features: Float32Array; readonly labels: Int32Array },
  test: { readonly features: Float32Array; readonly labels: Int32Array },
  dim: number,
  fraction: number,
  options: LinearProbeOptions,
  rng: Rng
): ProbeScore => {
  const subset = semiSupervisedSubset(train.labels, fraction)
  const features = new Float32Array(subset.length * dim)
  subset.forEach((row, i) => features.set(train.features.subarray(row * dim, (row + 1) * dim), i * dim))
  return linearProbe({ features, labels: Int32Array.from(subset, (row) => train.labels[row]!) }, test, dim, options, rng)
}
