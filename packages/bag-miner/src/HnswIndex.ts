/**
 * Approximate kNN with HNSW graphs (Malkov & Yashunin, "Efficient and robust approximate nearest
 * neighbor search using Hierarchical Navigable Small World graphs", TPAMI 2018), through
 * `usearch` 2.25.3, an optional dependency loaded with a dynamic import (`loadUsearch`).
 *
 * Vectors are L2-normalised here and indexed with usearch's cosine metric (distance 1 - cos),
 * so a similarity is 1 - distance, the same quantity exact search ranks by.
 *
 * Why chunks and not a worker thread: usearch's calls are synchronous and block the thread
 * that makes them. They already spread one call over `threads` native threads, so moving them
 * to a worker_thread would gain no speed, only keep the main thread free; but a worker must
 * load this package's TypeScript sources, which tsx and vitest each load through their own
 * loader hooks, and a worker does not reliably inherit them. So the work is cut into bounded
 * chunks (`hnswChunkRows` vectors per add or search call, about a second or less each), run as
 * `MiningSteps`: between two chunks the caller logs progress and yields to the Effect
 * scheduler, so logs, progress and interrupts keep working, at most one chunk late.
 */
import { Effect } from "effect"
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync } from "node:fs"
import { basename, dirname, join } from "node:path"
import { HnswFailed, UsearchUnavailable } from "./BagMinerError.ts"
import type { HnswOptions } from "./KnnSearch.ts"
import { checkFeatures } from "./normaliseRows.ts"
import type { MiningSteps } from "./runSteps.ts"
import { makeTopK, noCandidate, type TopK } from "./TopK.ts"

export type Usearch = typeof import("usearch")
export type UsearchIndex = InstanceType<Usearch["Index"]>

/** Vectors per usearch call, per thread: a few hundred milliseconds of inserts at D = 128 on one core. */
export const hnswChunkRows = 2048

const reasonOf = (e: unknown): string => (e instanceof Error ? e.message : String(e))

/** The usearch module, or UsearchUnavailable (not installed, no binary for this platform). */
export const loadUsearch: Effect.Effect<Usearch, UsearchUnavailable> = Effect.tryPromise({
  try: () => import("usearch") as Promise<Usearch>,
  catch: (e) => new UsearchUnavailable({ reason: reasonOf(e) })
})

/** N x D rows scaled to unit L2 norm (an all-zero row stays zero), as a new array. */
export const unitRows = (features: Float32Array, dim: number): Float32Array => {
  checkFeatures(features, dim)
  const out = new Float32Array(features.length)
  for (let start = 0; start < features.length; start += dim) {
    let sum = 0
    for (let d = 0; d < dim; d++) sum += features[start + d]! * features[start + d]!
    const scale = 1 / Math.max(Math.sqrt(sum), 1e-12)
    for (let d = 0; d < dim; d++) out[start + d] = features[start + d]! * scale
  }
  return out
}

/** An empty index for `dim`-wide vectors with these settings (cosine metric, one vector per key). */
export const createHnswIndex = (usearch: Usearch, dim: number, options: HnswOptions): UsearchIndex =>
  new usearch.Index({
    dimensions: dim,
    metric: usearch.MetricKind.Cos,
    quantization: usearch.ScalarKind[({ f32: "F32", f16: "F16", bf16: "BF16", i8: "I8" } as const)[options.quantization]],
    connectivity: options.connectivity,
    expansion_add: options.expansionAdd,
    expansion_search: options.expansionSearch,
    multi: false
  })

/**
 * Insert unit rows into `index` under their global ids, `hnswChunkRows * threads` rows per call
 * (stage "hnsw index"). A usearch error is thrown as HnswFailed (`driveSteps` makes it typed).
 */
export function* buildHnswSteps(
  index: UsearchIndex,
  unit: Float32Array,
  dim: number,
  ids: ArrayLike<number>,
  threads: number
): MiningSteps<void> {
  const n = unit.length / dim
  if (ids.length !== n) throw new RangeError(`${ids.length} ids for ${n} rows`)
  const chunk = hnswChunkRows * threads
  for (let start = 0; start < n; start += chunk) {
    const end = Math.min(n, start + chunk)
    const keys = new BigUint64Array(end - start)
    for (let i = start; i < end; i++) keys[i - start] = BigInt(ids[i]!)
    try {
      index.add(keys, unit.subarray(start * dim, end * dim), threads)
    } catch (e) {
      throw new HnswFailed({ operation: "insert", reason: reasonOf(e) })
    }
    yield { stage: "hnsw index", done: end, total: n }
  }
}

/**
 * The `width` approximate nearest indexed rows of each query row (unit rows), as a TopK of
 * global ids and similarities 1 - distance; slots the graph search did not fill are empty.
 * `hnswChunkRows * threads` queries per call (stage "hnsw search").
 */
export function* searchHnswSteps(
  index: UsearchIndex,
  queries: Float32Array,
  dim: number,
  width: number,
  threads: number
): MiningSteps<TopK> {
  checkFeatures(queries, dim)
  const n = queries.length / dim
  const ids = new Int32Array(n * width).fill(noCandidate)
  const sims = new Float32Array(n * width).fill(Number.NEGATIVE_INFINITY)
  const chunk = hnswChunkRows * threads
  for (let start = 0; start < n; start += chunk) {
    const end = Math.min(n, start + chunk)
    // one query comes back as Matches (its found entries only), several as BatchMatches (width per query, counts)
    let result: { readonly keys: BigUint64Array; readonly distances: Float32Array; readonly counts?: BigUint64Array }
    try {
      result = index.search(queries.subarray(start * dim, end * dim), width, threads) as typeof result
    } catch (e) {
      throw new HnswFailed({ operation: "search", reason: reasonOf(e) })
    }
    const counts = result.counts ?? BigUint64Array.of(BigInt(result.keys.length))
    const stride = result.counts === undefined ? result.keys.length : width
    for (let r = 0; r < end - start; r++) {
      const found = Math.min(width, Number(counts[r]!))
      for (let j = 0; j < found; j++) {
        ids[(start + r) * width + j] = Number(result.keys[r * stride + j]!)
        sims[(start + r) * width + j] = 1 - result.distances[r * stride + j]!
      }
    }
    yield { stage: "hnsw search", done: end, total: n }
  }
  return makeTopK(n, width, ids, sims)
}

/** Save an index atomically: usearch writes a temp file beside `path`, flushed and renamed over it. */
export const saveHnswIndex = (index: UsearchIndex, path: string): Effect.Effect<void, HnswFailed> =>
  Effect.try({
    try: () => {
      mkdirSync(dirname(path), { recursive: true })
      const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`)
      try {
        index.save(tmp)
        const fd = openSync(tmp, "r")
        try {
          fsyncSync(fd)
        } finally {
          closeSync(fd)
        }
        renameSync(tmp, path)
      } catch (e) {
        rmSync(tmp, { force: true })
        throw e
      }
    },
    catch: (e) => new HnswFailed({ operation: "save", path, reason: reasonOf(e) })
  })

/** Load a saved index into memory; it must hold `dim`-wide vectors. */
export const openHnswIndex = (usearch: Usearch, path: string, dim: number, options: HnswOptions): Effect.Effect<UsearchIndex, HnswFailed> =>
  Effect.try({
    try: () => {
      const index = createHnswIndex(usearch, dim, options)
      index.load(path)
      return index
    },
    catch: (e) => new HnswFailed({ operation: "load", path, reason: reasonOf(e) })
  }).pipe(
    Effect.filterOrFail(
      (index) => index.dimensions() === dim,
      (index) =>
        new HnswFailed({
          operation: "load",
          path,
          reason: `the index holds ${index.dimensions()}-wide vectors, the features are ${dim} wide`
        })
    )
  )
