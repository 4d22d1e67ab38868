import { Rng } from "@bingo/runtime"
import * as tf from "@tensorflow/tfjs"
import { checkFeatures, normaliseRows } from "./normaliseRows.ts"
import { type MiningSteps, runSteps } from "./runSteps.ts"

export interface KmeansOptions {
  /** Number of clusters C, 1 <= C <= N. */
  readonly clusters: number
  /** Lloyd iterations (default 20); stops earlier once no assignment changes, which gives the
   * same result as running them all. */
  readonly iterations?: number
  /** Seed of the k-means++ initialisation (default 0). */
  readonly seed?: number
  /** Draw the initialisation from this generator instead of `seed`. */
  readonly rng?: Rng
  /** Rows per assignment block (default 4096; a block holds chunkSize x C similarities). */
  readonly chunkSize?: number
}

export interface KmeansResult {
  /** Cluster of each sample (N), from the last assignment step. */
  readonly assignments: Int32Array
  /** C x D unit-norm centroids, row-major. */
  readonly centroids: Float32Array
  /** Members per cluster (C). */
  readonly sizes: Int32Array
  /** Lloyd iterations run. */
  readonly iterations: number
}

export const defaultKmeansIterations = 20

/**
 * Spherical k-means: cosine similarity on L2-normalised features, centroids re-normalised
 * after each update (the mean direction of their members).
 *
 * - Initialisation: k-means++ (Arthur & Vassilvitskii 2007), seeded: the first centroid is a
 *   uniform sample, each next one a sample drawn with probability proportional to its
 *   squared distance 2 - 2 cos to the nearest centroid chosen so far.
 * - Lloyd iterations: assign each sample to the most similar centroid (ties: lower cluster
 *   index), then move each centroid to its members' normalised mean. A cluster left empty
 *   keeps its previous centroid.
 */
export const kmeans = (
  features: Float32Array,
  dim: number,
  options: KmeansOptions & { readonly onProgress?: (stage: string, done: number, total: number) => void }
): KmeansResult => runSteps(kmeansSteps(features, dim, options), (p) => options.onProgress?.(p.stage, p.done, p.total))

/** `kmeans` as resumable steps: stage "kmeans++" once per chosen centroid, then stage
 * "kmeans" once per Lloyd iteration. */
export const kmeansSteps = (features: Float32Array, dim: number, options: KmeansOptions): MiningSteps<KmeansResult> => {
  checkFeatures(features, dim)
  const n = features.length / dim
  const { clusters } = options
  const iterations = options.iterations ?? defaultKmeansIterations
  const chunkSize = options.chunkSize ?? 4096
  if (!Number.isInteger(clusters) || clusters < 1 || clusters > n) {
    throw new RangeError(`k-means needs 1 <= clusters <= N, got clusters=${clusters}, N=${n}`)
  }
  if (!Number.isInteger(iterations) || iterations < 1) throw new RangeError(`iterations must be >= 1, got ${iterations}`)
  if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new RangeError(`chunkSize must be a positive integer, got ${chunkSize}`)
  const rng = options.rng ?? Rng.fromSeed(options.seed ?? 0)
  return steps(features, dim, n, clusters, iterations, chunkSize, rng)
}

function* steps(
  features: Float32Array,
  dim: number,
  n: number,
  clusters: number,
  iterations: number,
  chunkSize: number,
  rng: Rng
): MiningSteps<KmeansResult> {
  const x = normaliseRows(features, dim)
  try {
    const xs = x.dataSync() as Float32Array
    const centroids = new Float32Array(clusters * dim)

    // k-means++ initialisation.
    const minDist = new Float64Array(n).fill(Infinity)
    for (let c = 0; c < clusters; c++) {
      const pick = c === 0 ? rng.int(n) : weightedPick(minDist, rng)
      centroids.set(xs.subarray(pick * dim, (pick + 1) * dim), c * dim)
      if (c + 1 < clusters) {
        const sim = tf.tidy(() => tf.matMul(x, tf.tensor2d(centroids.subarray(c * dim, (c + 1) * dim), [dim, 1])))
        const s = sim.dataSync()
        sim.dispose()
        for (let i = 0; i < n; i++) {
          const d = Math.max(0, 2 - 2 * s[i]!)
          if (d < minDist[i]!) minDist[i] = d
        }
      }
      yield { stage: "kmeans++", done: c + 1, total: clusters }
    }

    // Lloyd iterations.
    const assignments = new Int32Array(n).fill(-1)
    const sizes = new Int32Array(clusters)
    let run = 0
    for (let it = 0; it < iterations; it++) {
      run++
      const changed = assign(x, centroids, dim, clusters, chunkSize, assignments)
      sizes.fill(0)
      for (let i = 0; i < n; i++) sizes[assignments[i]!]!++
      const sumData = clusterSums(xs, dim, assignments, clusters)
      for (let c = 0; c < clusters; c++) {
        let norm = 0
        for (let d = 0; d < dim; d++) norm += sumData[c * dim + d]! ** 2
        norm = Math.sqrt(norm)
        if (sizes[c]! === 0 || norm < 1e-12) continue
        for (let d = 0; d < dim; d++) centroids[c * dim + d] = sumData[c * dim + d]! / norm
      }
      yield { stage: "kmeans", done: it + 1, total: iterations }
      if (changed === 0) break
    }
    return { assignments, centroids, sizes, iterations: run }
  } finally {
    x.dispose()
  }
}

/**
 * The sum of each cluster's member rows, C x D, accumulated in float64 in one pass over the rows.
 * (TF.js's cpu `unsortedSegmentSum` builds a mask per segment: O(N D C) in JS, 225 s an iteration
 * for 60,000 x 256 features and 100 clusters; this is O(N D).)
 */
export const clusterSums = (xs: Float32Array, dim: number, assignments: Int32Array, clusters: number): Float64Array => {
  const sums = new Float64Array(clusters * dim)
  for (let i = 0; i < assignments.length; i++) {
    const base = assignments[i]! * dim
    const row = i * dim
    for (let d = 0; d < dim; d++) sums[base + d]! += xs[row + d]!
  }
  return sums
}

/** Assign every row of `x` to its most similar centroid, in blocks; returns how many changed. */
const assign = (
  x: tf.Tensor2D,
  centroids: Float32Array,
  dim: number,
  clusters: number,
  chunkSize: number,
  assignments: Int32Array
): number => {
  const n = x.shape[0]
  const ct = tf.tidy(() => tf.transpose(tf.tensor2d(centroids, [clusters, dim])))
  let changed = 0
  try {
    for (let start = 0; start < n; start += chunkSize) {
      const rows = Math.min(chunkSize, n - start)
      const best = tf.tidy(() => tf.argMax(tf.matMul(tf.slice(x, [start, 0], [rows, dim]), ct), 1))
      const b = best.dataSync() as Int32Array
      best.dispose()
      for (let r = 0; r < rows; r++) {
        if (assignments[start + r] !== b[r]) changed++
        assignments[start + r] = b[r]!
      }
    }
  } finally {
    ct.dispose()
  }
  return changed
}

/** An index drawn with probability proportional to `weights` (uniform if they are all 0). */
const weightedPick = (weights: Float64Array, rng: Rng): number => {
  let total = 0
  for (let i = 0; i < weights.length; i++) total += weights[i]!
  if (!(total > 0)) return rng.int(weights.length)
  let r = rng.next() * total
  let last = 0
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i]!
    if (w <= 0) continue
    last = i
    r -= w
    if (r < 0) return i
  }
  return last
}
