import type { Bags } from "./Bags.ts"
import { boundedChunkSize, exactTopKSteps } from "./exactTopK.ts"
import { mergeTopK } from "./mergeTopK.ts"
import { recallAtK } from "./recallAtK.ts"
import type { MiningSteps } from "./runSteps.ts"

/**
 * Recall@K of approximate bags on sampled anchors: the exact K neighbours of each `sample` row
 * (exactTopK of those rows against all N, the knnBags rule) against the bags' rows. Stage "knn"
 * (one block of the sample per report).
 */
export function* measureRecallSteps(features: Float32Array, dim: number, bags: Bags, sample: Int32Array): MiningSteps<number> {
  const { k } = bags
  const queries = new Float32Array(sample.length * dim)
  const approx = new Int32Array(sample.length * k)
  sample.forEach((row, i) => {
    queries.set(features.subarray(row * dim, (row + 1) * dim), i * dim)
    approx.set(bags.neighbours.subarray(row * k, (row + 1) * k), i * k)
  })
  const top = yield* exactTopKSteps(queries, features, dim, { width: k + 1, chunkSize: boundedChunkSize(bags.n) })
  return recallAtK(approx, mergeTopK([top], sample, k), k)
}
