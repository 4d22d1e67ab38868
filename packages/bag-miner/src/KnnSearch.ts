import { availableParallelism } from "node:os"

/** How kNN bags are searched: exactly (matMul + top-k), approximately (HNSW), or by size. */
export type KnnSearchMode = "auto" | "exact" | "hnsw"

/** usearch's storage of the indexed vectors: f16 halves memory at a recall cost measured by `pnpm bench:bags`. */
export type HnswQuantization = "f32" | "f16" | "bf16" | "i8"

/** HNSW index settings (usearch's names in brackets). */
export interface HnswOptions {
  /** Graph edges per node [connectivity] (default 16). */
  readonly connectivity: number
  /** Candidate list while inserting [expansion_add] (default 128). */
  readonly expansionAdd: number
  /** Candidate list while searching [expansion_search] (default 192: `pnpm bench:bags` on 1,000,000 x 128
   * clustered vectors gave recall@5 97.4% at 64 and 99.2% at 192, docs/scaling.md); raise it for recall. */
  readonly expansionSearch: number
  /** Scalar type of the stored vectors (default f16). */
  readonly quantization: HnswQuantization
  /** Threads of each usearch call; "auto": the cores this process may use (os.availableParallelism, which honours a
   * Slurm or cgroup CPU set). */
  readonly threads: number | "auto"
}

export const defaultHnswOptions: HnswOptions = {
  connectivity: 16,
  expansionAdd: 128,
  expansionSearch: 192,
  quantization: "f16",
  threads: "auto"
}

export interface KnnSearchOptions {
  /** Default "auto": exact up to `exactUpTo` rows, HNSW above. */
  readonly search: KnnSearchMode
  /**
   * Largest N searched exactly under `auto` (default 100,000), from `pnpm bench:bags` on this
   * 2-core machine kind (docs/scaling.md, "Measured rates"): at 60,000 x 512 exact search (21 s)
   * is faster than HNSW on one thread (49 s), level with it on two (22 s), and exact and
   * deterministic; at 200,000 x 512 it is 1.4-2.7x slower (3.5 min against 1.3-2.5 min) and grows
   * with N^2. Keeps Fashion-MNIST's 60,000 and CIFAR's 50,000 on the exact path.
   */
  readonly exactUpTo: number
  readonly hnsw: HnswOptions
  /** Rows whose HNSW neighbours are checked against exact search (recall@K), drawn with the run's seed (default 1,000). */
  readonly recallSample: number
}

export const defaultExactUpTo = 100_000
export const defaultRecallSample = 1000

export const defaultKnnSearchOptions: KnnSearchOptions = {
  search: "auto",
  exactUpTo: defaultExactUpTo,
  hnsw: defaultHnswOptions,
  recallSample: defaultRecallSample
}

/** The search an N-row kNN runs with these settings. */
export const resolveKnnSearch = (search: KnnSearchMode, n: number, exactUpTo: number): "exact" | "hnsw" =>
  search === "auto" ? (n <= exactUpTo ? "exact" : "hnsw") : search

/** The thread count `threads` stands for (at least 1). */
export const resolveThreads = (threads: number | "auto"): number => (threads === "auto" ? Math.max(1, availableParallelism()) : threads)

/** Why these HNSW options cannot work, or undefined. */
export const hnswOptionsProblem = (o: HnswOptions): string | undefined => {
  for (const key of ["connectivity", "expansionAdd", "expansionSearch"] as const) {
    if (!Number.isInteger(o[key]) || o[key] < 1) return `hnsw.${key} must be a positive integer, got ${o[key]}`
  }
  if (o.connectivity < 2) return `hnsw.connectivity must be at least 2, got ${o.connectivity}`
  if (!["f32", "f16", "bf16", "i8"].includes(o.quantization))
    return `hnsw.quantization must be f32, f16, bf16 or i8, got '${o.quantization}'`
  if (o.threads !== "auto" && (!Number.isInteger(o.threads) || o.threads < 1))
    return `hnsw.threads must be a positive integer or auto, got ${o.threads}`
  return undefined
}
