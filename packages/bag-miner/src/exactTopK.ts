import * as tf from "@tensorflow/tfjs"
import { checkFeatures, normaliseRows } from "./normaliseRows.ts"
import { type MiningSteps, runSteps } from "./runSteps.ts"
import { makeTopK, noCandidate, type TopK } from "./TopK.ts"

export interface ExactTopKOptions {
  /** Candidates kept per query row (K+1 for bags: the anchor may be among them). */
  readonly width: number
  /** Query rows per similarity block (default 1024, `defaultKnnChunkSize`). */
  readonly chunkSize?: number
  /** The global id of each index row (default: its position, 0 .. rows-1). Must increase, so
   * that the lower position wins a tie exactly when the lower id does. */
  readonly indexIds?: ArrayLike<number>
}

/** Default query rows per block: 1024 x 60,000 similarities = 246 MB. */
export const defaultKnnChunkSize = 1024

/**
 * Query rows per block such that a block's similarities (rows x indexRows float32) stay within
 * `bytes` (default 256 MiB), at most `defaultKnnChunkSize`: 1024 rows up to 65,536 index rows,
 * 268 against 250,000. The chunk size does not change the result (tested), only peak memory.
 */
export const boundedChunkSize = (indexRows: number, bytes = 2 ** 28): number =>
  Math.max(1, Math.min(defaultKnnChunkSize, Math.floor(bytes / 4 / Math.max(1, indexRows))))

/**
 * Exact cosine top-k of every query row among the index rows, block by block: the search of
 * `knnBags` and of one (query shard, index shard) task of sharded mining, the same code.
 *
 * - `queries`: Q x D, `index`: S x D, row-major; rows are L2-normalised here. Passing the same
 *   array for both normalises it once (knnBags' case).
 * - Each block of `chunkSize` query rows: S = block . X^T (chunk x S) on the TF.js backend, then
 *   tf.topk(width). The cpu backend's top-k orders by (value desc, index asc), so with
 *   increasing ids a tie is won by the lower id, in a shard as in the whole matrix; that is why
 *   per-shard lists merge into exactly the whole matrix's list (mergeTopK).
 * - With fewer than `width` index rows, the missing slots are empty (TopK.ts).
 * - Every tensor of a block is freed before the next; returning early (steps.return()) frees the
 *   normalised copies.
 *
 * Yields one progress report per block (stage "knn").
 */
export const exactTopKSteps = (queries: Float32Array, index: Float32Array, dim: number, options: ExactTopKOptions): MiningSteps<TopK> => {
  checkFeatures(queries, dim)
  checkFeatures(index, dim)
  const { width } = options
  const chunkSize = options.chunkSize ?? defaultKnnChunkSize
  if (!Number.isInteger(width) || width < 1) throw new RangeError(`width must be a positive integer, got ${width}`)
  if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new RangeError(`chunkSize must be a positive integer, got ${chunkSize}`)
  const indexRows = index.length / dim
  if (options.indexIds !== undefined && options.indexIds.length !== indexRows) {
    throw new RangeError(`${options.indexIds.length} index ids for ${indexRows} index rows`)
  }
  return steps(queries, index, dim, width, chunkSize, options.indexIds)
}

/** `exactTopKSteps` run to the end. */
export const exactTopK = (queries: Float32Array, index: Float32Array, dim: number, options: ExactTopKOptions): TopK =>
  runSteps(exactTopKSteps(queries, index, dim, options))

function* steps(
  queries: Float32Array,
  index: Float32Array,
  dim: number,
  width: number,
  chunkSize: number,
  indexIds: ArrayLike<number> | undefined
): MiningSteps<TopK> {
  const n = queries.length / dim
  const indexRows = index.length / dim
  const found = Math.min(width, indexRows)
  const ids = new Int32Array(n * width).fill(noCandidate)
  const sims = new Float32Array(n * width).fill(Number.NEGATIVE_INFINITY)
  if (found === 0) return makeTopK(n, width, ids, sims)
  const same = queries === index
  let q: tf.Tensor2D | undefined
  let xT: tf.Tensor2D | undefined
  try {
    q = normaliseRows(queries, dim)
    // The transposed copy is kept: the wasm backend multiplies by a pre-transposed matrix
    // ~13x faster than with transposeB (measured, see README).
    if (same) xT = tf.transpose(q) as tf.Tensor2D
    else {
      const x = normaliseRows(index, dim)
      xT = tf.transpose(x) as tf.Tensor2D
      x.dispose()
    }
    for (let start = 0; start < n; start += chunkSize) {
      const rows = Math.min(chunkSize, n - start)
      const top = tf.tidy(() => {
        const sim = tf.matMul(tf.slice(q!, [start, 0], [rows, dim]), xT!)
        return tf.topk(sim, found)
      })
      const values = top.values.dataSync() as Float32Array
      const indices = top.indices.dataSync() as Int32Array
      top.values.dispose()
      top.indices.dispose()
      for (let r = 0; r < rows; r++) {
        const out = (start + r) * width
        for (let j = 0; j < found; j++) {
          const local = indices[r * found + j]!
          ids[out + j] = indexIds === undefined ? local : indexIds[local]!
          sims[out + j] = values[r * found + j]!
        }
      }
      yield { stage: "knn", done: start + rows, total: n }
    }
  } finally {
    q?.dispose()
    xT?.dispose()
  }
  return makeTopK(n, width, ids, sims)
}
