import { type Bags, makeBags } from "./Bags.ts"
import { NeighboursMissing } from "./BagMinerError.ts"
import { buildHnswSteps, createHnswIndex, searchHnswSteps, unitRows, type Usearch } from "./HnswIndex.ts"
import { identity } from "./knnBags.ts"
import { type HnswOptions, resolveThreads } from "./KnnSearch.ts"
import { firstShortRow, mergeTopK } from "./mergeTopK.ts"
import { checkFeatures } from "./normaliseRows.ts"
import type { MiningSteps } from "./runSteps.ts"

/**
 * Approximate cosine kNN bags: the same bags as `knnBags` (anchor dropped, (similarity desc, id
 * asc), K kept, by `mergeTopK`), from an HNSW index of all N rows searched for each row's K+1
 * nearest. The single-process form of sharded HNSW mining with one shard. A row for which the
 * graph search found fewer than K others throws NeighboursMissing (typed by `driveSteps`).
 * Stages "hnsw index" then "hnsw search".
 */
export function* hnswBagsSteps(
  usearch: Usearch,
  features: Float32Array,
  dim: number,
  options: { readonly k: number; readonly hnsw: HnswOptions }
): MiningSteps<Bags> {
  checkFeatures(features, dim)
  const n = features.length / dim
  const { k } = options
  if (!Number.isInteger(k) || k < 1 || k >= n) throw new RangeError(`kNN bags need 1 <= K < N, got K=${k}, N=${n}`)
  const threads = resolveThreads(options.hnsw.threads)
  const unit = unitRows(features, dim)
  const ids = identity(n)
  const index = createHnswIndex(usearch, dim, options.hnsw)
  yield* buildHnswSteps(index, unit, dim, ids, threads)
  const top = yield* searchHnswSteps(index, unit, dim, k + 1, threads)
  const neighbours = mergeTopK([top], ids, k)
  const short = firstShortRow(neighbours, k)
  if (short !== undefined) throw new NeighboursMissing({ row: short.row, found: short.found, k })
  return makeBags(n, k, neighbours)
}
