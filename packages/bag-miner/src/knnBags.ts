import * as tf from "@tensorflow/tfjs"
import { type Bags, makeBags } from "./Bags.ts"
import { checkFeatures, normaliseRows } from "./normaliseRows.ts"
import { type MiningSteps, runSteps } from "./runSteps.ts"

export interface KnnBagsOptions {
  /** Neighbours per anchor (reference K = 5); 1 <= K < N. */
  readonly k: number
  /** Query rows per similarity block (default 1024). Peak memory is about
   * chunkSize x N floats for the block plus two copies of the N x D features. */
  readonly chunkSize?: number
}

/** Default query rows per block: 1024 x 60,000 similarities = 246 MB. */
export const defaultKnnChunkSize = 1024

/**
 * Exact cosine kNN bags (BINGO Stage 1, the default bag kind): for every anchor, the K other
 * samples with the highest cosine similarity of their features.
 *
 * - `features`: N x D, row-major; rows are L2-normalised here (scale does not matter).
 * - The anchor is excluded from its own row, even when duplicates tie with it.
 * - Ties are broken by the lower index.
 * - Query rows are processed in blocks of `chunkSize`: S = block . X^T (chunk x N), then
 *   top-(K+1) per row; every tensor of a block is freed before the next.
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
  const neighbours = new Int32Array(n * k)
  const width = k + 1
  // The transposed copy is kept: the wasm backend multiplies by a pre-transposed matrix
  // ~13x faster than with transposeB (measured, see README).
  const all = normaliseRows(features, dim)
  const allT = tf.transpose(all) as tf.Tensor2D
  try {
    for (let start = 0; start < n; start += chunkSize) {
      const rows = Math.min(chunkSize, n - start)
      const top = tf.tidy(() => {
        const sim = tf.matMul(tf.slice(all, [start, 0], [rows, dim]), allT)
        return tf.topk(sim, width)
      })
      const values = top.values.dataSync() as Float32Array
      const indices = top.indices.dataSync() as Int32Array
      top.values.dispose()
      top.indices.dispose()
      for (let r = 0; r < rows; r++) keepNeighbours(start + r, values, indices, r * width, width, k, neighbours)
      yield { stage: "knn", done: start + rows, total: n }
    }
  } finally {
    all.dispose()
    allT.dispose()
  }
  return makeBags(n, k, neighbours)
}

/**
 * From the K+1 candidates of one anchor, write the best K that are not the anchor into its
 * row. Candidates are re-ordered by (similarity desc, index asc) so the tie rule holds on any
 * backend whose top-k orders ties differently; if the anchor is not among the K+1 (more than
 * K exact duplicates of lower index), the last candidate is dropped instead.
 */
const keepNeighbours = (
  anchor: number,
  values: Float32Array,
  indices: Int32Array,
  offset: number,
  width: number,
  k: number,
  out: Int32Array
): void => {
  const order: Array<number> = []
  for (let j = 0; j < width; j++) if (indices[offset + j] !== anchor) order.push(offset + j)
  order.sort((a, b) => values[b]! - values[a]! || indices[a]! - indices[b]!)
  for (let j = 0; j < k; j++) out[anchor * k + j] = indices[order[j]!]!
}
