import type { Rng } from "@bingo/runtime"

export interface ShuffledBatchesOptions {
  /** Drop the last, smaller batch (default false). Training usually wants true. */
  readonly dropLast?: boolean
}

/** One epoch's batches: a random permutation of 0..n-1 cut into batches of `batchSize`. */
export const shuffledBatches = (n: number, batchSize: number, rng: Rng, options: ShuffledBatchesOptions = {}): Array<Int32Array> => {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`shuffledBatches: n must be a non-negative integer, got ${n}`)
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`shuffledBatches: batchSize must be a positive integer, got ${batchSize}`)
  }
  const perm = rng.permutation(n)
  const batches: Array<Int32Array> = []
  for (let start = 0; start < n; start += batchSize) {
    const end = Math.min(start + batchSize, n)
    if (end - start < batchSize && options.dropLast === true) break
    batches.push(perm.slice(start, end))
  }
  return batches
}

/**
 * BINGO's positive sampling: for each anchor a, one neighbour drawn uniformly from its bag,
 * row a of `bagsNeighbours`, an n*k row-major matrix of dataset indices (as the bag miner writes
 * it; whether a row contains the anchor itself is the miner's choice).
 */
export const samplePositives = (bagsNeighbours: Int32Array, k: number, anchors: ArrayLike<number>, rng: Rng): Int32Array => {
  if (!Number.isInteger(k) || k < 1 || bagsNeighbours.length % k !== 0) {
    throw new RangeError(`samplePositives: ${bagsNeighbours.length} values is not an n*k matrix with k = ${k}`)
  }
  const rows = bagsNeighbours.length / k
  const out = new Int32Array(anchors.length)
  for (let i = 0; i < anchors.length; i++) {
    const a = anchors[i]!
    if (!Number.isInteger(a) || a < 0 || a >= rows) {
      throw new RangeError(`samplePositives: anchor ${a} out of range [0, ${rows})`)
    }
    out[i] = bagsNeighbours[a * k + rng.int(k)]!
  }
  return out
}
