import { Rng } from "@bingo/runtime"
import type { Bags } from "./Bags.ts"
import { groupBags } from "./groupBags.ts"
import { type KmeansResult, kmeansSteps } from "./kmeans.ts"
import { type MiningSteps, runSteps } from "./runSteps.ts"

export interface KmeansBagsOptions {
  /** Neighbours per anchor. */
  readonly k: number
  /** Number of k-means clusters C. */
  readonly clusters: number
  /** Lloyd iterations (default 20). */
  readonly iterations?: number
  /** Seed of the k-means++ initialisation and of the neighbour draws (default 0). */
  readonly seed?: number
}

/**
 * Bags from k-means clusters (the paper's clustering alternative to kNN): spherical k-means
 * on the L2-normalised features (see `kmeans`), then each anchor's K neighbours are drawn
 * from its own cluster (see `groupBags`: without replacement when the cluster has at least
 * K other members, with replacement when it has fewer, the anchor itself when it is alone).
 */
export const kmeansBags = (
  features: Float32Array,
  dim: number,
  options: KmeansBagsOptions & { readonly onProgress?: (stage: string, done: number, total: number) => void }
): Bags => runSteps(kmeansBagsSteps(features, dim, options), (p) => options.onProgress?.(p.stage, p.done, p.total)).bags

/** `kmeansBags` as resumable steps; also returns the clustering. */
export const kmeansBagsSteps = (
  features: Float32Array,
  dim: number,
  options: KmeansBagsOptions
): MiningSteps<{ readonly bags: Bags; readonly clustering: KmeansResult }> => {
  if (!Number.isInteger(options.k) || options.k < 1) throw new RangeError(`K must be a positive integer, got ${options.k}`)
  const root = Rng.fromSeed(options.seed ?? 0)
  const initRng = root.fork()
  const drawRng = root.fork()
  const clustering = kmeansSteps(features, dim, {
    clusters: options.clusters,
    rng: initRng,
    ...(options.iterations === undefined ? {} : { iterations: options.iterations })
  })
  return (function* () {
    const result = yield* clustering
    return { bags: groupBags(result.assignments, options.k, drawRng), clustering: result }
  })()
}
