import { Rng } from "@bingo/runtime"

/**
 * Recall@K of approximate neighbours: for each sampled row, the fraction of its K exact
 * neighbours that the approximate search also listed (in any order), averaged over the rows.
 * `approx` and `exact` are rows x K, row-major, for the same rows. 1 means every exact
 * neighbour was found; with exact ties at the K-th place an approximate list can hold an
 * equally similar row instead and score below 1.
 */
export const recallAtK = (approx: Int32Array, exact: Int32Array, k: number): number => {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be a positive integer, got ${k}`)
  if (approx.length !== exact.length || exact.length % k !== 0) {
    throw new RangeError(`recall needs two rows x ${k} lists of the same length, got ${approx.length} and ${exact.length}`)
  }
  const rows = exact.length / k
  if (rows === 0) return Number.NaN
  let hits = 0
  for (let r = 0; r < rows; r++) {
    const found = new Set(approx.subarray(r * k, (r + 1) * k))
    for (let j = r * k; j < (r + 1) * k; j++) if (found.has(exact[j]!)) hits++
  }
  return hits / (rows * k)
}

/** `count` distinct rows of 0 .. n-1 drawn uniformly with `seed`, ascending; all n rows when count >= n. */
export const sampleRows = (n: number, count: number, seed: number): Int32Array => {
  if (!Number.isInteger(n) || n < 0 || !Number.isInteger(count) || count < 0) {
    throw new RangeError(`sampleRows needs integers n, count >= 0, got n=${n}, count=${count}`)
  }
  if (count >= n) return Int32Array.from({ length: n }, (_, i) => i)
  // partial Fisher-Yates over a sparse swap table: O(count) memory whatever n is
  const rng = Rng.fromSeed(seed)
  const swapped = new Map<number, number>()
  const out = new Int32Array(count)
  for (let i = 0; i < count; i++) {
    const j = i + rng.int(n - i)
    const atJ = swapped.get(j) ?? j
    swapped.set(j, swapped.get(i) ?? i)
    out[i] = atJ
  }
  return out.sort()
}
