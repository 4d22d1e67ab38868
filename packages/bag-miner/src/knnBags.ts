import { type Bags, makeBags } from "./Bags.ts"
import { defaultKnnChunkSize, exactTopKSteps } from "./exactTopK.ts"
import { mergeTopK } from "./mergeTopK.ts"
import { checkFeatures } from "./normaliseRows.ts"
import { type MiningSteps, runSteps } from "./runSteps.ts"

export { defaultKnnChunkSize }

export interface KnnBagsOptions {
  /** Neighbours per anchor (reference K = 5); 1 <= K < N. */
  readonly k: number
  /** Query rows per similarity block (default 1024). Peak memory is about
   * chunkSize x N floats for the block plus two copies of the N x D features. */
  readonly chunkSize?: number
}

/**
 * Exact cosine kNN bags (BINGO Stage 1, the default bag kind): for every anchor, the K other
 * samples with the highest cosine similarity of their features.
 *
 * - `features`: N x D, row-major; rows are L2-normalised here (scale does not matter).
 * - The anchor is excluded from its own row, even when duplicates tie with it.
 * - Ties are broken by the lower index.
 * - Query rows are processed in blocks of `chunkSize`: S = block . X^T (chunk x N), then
 *   top-(K+1) per row (`exactTopKSteps`, the block search sharded mining runs too); every
 *   tensor of a block is freed before the next. The K+1 candidates of each row become its K
 *   neighbours by `mergeTopK`'s rule: re-ordered by (similarity desc, index asc), so the tie
 *   rule holds on any backend whose top-k orders ties differently, the anchor dropped, or the
 *   last candidate when the anchor is not among the K+1 (more than K exact duplicates of lower
 *   index).
 *
 * Cost is N^2 D multiply-adds whatever the chunk size; see the README for measured times
 * (the wasm backend is ~30x faster than the cpu backend on 60k x 512).
 */
export const knnBags = (
  features: Float32Array,
  dim: number,
  options: KnnBagsOptions & { readonly onProgress?: (done: number, total: number) => void }
): Bags => runSteps(knnBagsSteps(features, dim, options), (p) => options.onProgress?.(p.done, p.total))

/** `knnBags` as resumable steps: one progress report per block of query rows (stage "knn"). */
export const knnBagsSteps = (features: Float32Array, dim: number, options: KnnBagsOptions): MiningSteps<Bags> => {
  checkFeatures(features, dim)
  const n = features.length / dim
  const { k } = options
  const chunkSize = options.chunkSize ?? defaultKnnChunkSize
  if (!Number.isInteger(k) || k < 1 || k >= n) throw new RangeError(`kNN bags need 1 <= K < N, got K=${k}, N=${n}`)
  if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new RangeError(`chunkSize must be a positive integer, got ${chunkSize}`)
  return steps(features, dim, n, k, chunkSize)
}

function* steps(features: Float32Array, dim: number, n: number, k: number, chunkSize: number): MiningSteps<Bags> {
  const top = yield* exactTopKSteps(features, features, dim, { width: k + 1, chunkSize })
  return makeBags(n, k, mergeTopK([top], identity(n), k))
}

/** The ids 0 .. n-1: rows of a whole feature matrix. */
export const identity = (n: number): Int32Array => Int32Array.from({ length: n }, (_, i) => i)
