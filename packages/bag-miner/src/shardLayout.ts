/**
 * kNN bags past one machine: the features of N images in n embedding shards, searched as n x n
 * independent (query shard, index shard) tasks, merged into the N x K bags. Each step reads and
 * writes files in one directory (`<outDir>/embeddings/`), so every task can run as one task of
 * an array job (Slurm, a Kubernetes Indexed Job) on a shared file system; docs/scaling.md.
 *
 * Files (every one written atomically: a temp file renamed over it):
 *   features-<i>-of-<n>.npy    float32, rows x D: the teacher's features of shard i
 *   labels-<i>-of-<n>.npy      int32, rows: their labels (when the dataset has them, for purity)
 *   rows-<i>-of-<n>.npy        int64, rows: their global row ids, written last: the shard is finished
 *   features-<i>-of-<n>.json   how it was made (rows, seconds)
 *   index-<s>-of-<n>.usearch   HNSW index of shard s (+ index-<s>-of-<n>.json)
 *   topk-<q>-<s>-of-<n>.sims.npy / .json / .ids.npy
 *                              top-(K+1) of each row of shard q among shard s: similarities
 *                              float32, the search settings, global ids int64 (written last)
 *   bags.json                  the merge's report
 *
 * Shard i holds rows [floor(i*N/n), floor((i+1)*N/n)). Exact search runs `exactTopKSteps`, the
 * block search of `knnBags`, and the merge runs `mergeTopK`, knnBags' rule, so any shard count
 * gives exactly knnBags' bags (on a backend whose top-k breaks ties by index, as TF.js cpu does).
 */
import { Effect } from "effect"
import { existsSync, readdirSync } from "node:fs"
import { join } from "node:path"
import { EmbeddingShardsMismatch, EmbeddingShardsMissing, type NpyReadError } from "./BagMinerError.ts"
import { readNpy, readNpyHeader } from "./npy.ts"

/** The file names of the sharded layout (see the module comment). */
export const shardFiles = {
  features: (i: number, n: number) => `features-${i}-of-${n}.npy`,
  labels: (i: number, n: number) => `labels-${i}-of-${n}.npy`,
  rows: (i: number, n: number) => `rows-${i}-of-${n}.npy`,
  embedInfo: (i: number, n: number) => `features-${i}-of-${n}.json`,
  index: (s: number, n: number) => `index-${s}-of-${n}.usearch`,
  indexInfo: (s: number, n: number) => `index-${s}-of-${n}.json`,
  topkIds: (q: number, s: number, n: number) => `topk-${q}-${s}-of-${n}.ids.npy`,
  topkSims: (q: number, s: number, n: number) => `topk-${q}-${s}-of-${n}.sims.npy`,
  topkInfo: (q: number, s: number, n: number) => `topk-${q}-${s}-of-${n}.json`,
  report: "bags.json"
} as const

/** The global rows [start, end) of shard i of n over `total` rows. */
export const shardRange = (i: number, n: number, total: number): readonly [number, number] => [
  Math.floor((i * total) / n),
  Math.floor(((i + 1) * total) / n)
]

/** A complete, consistent set of n embedding shards in `dir`. */
export interface ShardSet {
  readonly dir: string
  readonly n: number
  /** N: rows over all shards. */
  readonly total: number
  /** D: feature width. */
  readonly dim: number
  /** Rows of each shard. */
  readonly counts: ReadonlyArray<number>
}

/** The embedding shard files present in `dir`: for each shard count seen, the shards with features, and those finished (rows). */
export interface ShardScan {
  readonly counts: ReadonlyMap<number, { readonly features: ReadonlySet<number>; readonly finished: ReadonlySet<number> }>
  readonly names: ReadonlyArray<string>
}

const SHARD_FILE = /^(features|rows)-(\d+)-of-(\d+)\.npy$/

/** Which embedding shard files `dir` holds (nothing when it does not exist). */
export const scanShards = (dir: string): ShardScan => {
  const counts = new Map<number, { features: Set<number>; finished: Set<number> }>()
  const names: Array<string> = []
  const entries = existsSync(dir) ? readdirSync(dir) : []
  for (const name of entries.sort()) {
    const m = SHARD_FILE.exec(name)
    if (m === null) continue
    names.push(name)
    const n = Number(m[3])
    const entry = counts.get(n) ?? { features: new Set<number>(), finished: new Set<number>() }
    counts.set(n, entry)
    ;(m[1] === "features" ? entry.features : entry.finished).add(Number(m[2]))
  }
  return { counts, names }
}

/**
 * The complete set of embedding shards in `dir`: n is read from the file names, which must all
 * agree; every shard 0..n-1 must be finished (features and rows files), the features float32
 * rows x D with one D, the rows int64 and as long, and shard i must hold exactly the rows
 * [floor(i*N/n), floor((i+1)*N/n)) of N = the sum. Only headers are read.
 */
export const readShardSet = (dir: string): Effect.Effect<ShardSet, EmbeddingShardsMissing | EmbeddingShardsMismatch | NpyReadError> =>
  Effect.gen(function* () {
    const scan = scanShards(dir)
    if (scan.counts.size === 0)
      return yield* new EmbeddingShardsMissing({ dir, missing: ["features-<i>-of-<n>.npy and rows-<i>-of-<n>.npy (none found)"] })
    if (scan.counts.size > 1) {
      return yield* new EmbeddingShardsMismatch({
        dir,
        files: scan.names,
        reason: `the files name ${scan.counts.size} different shard counts (${[...scan.counts.keys()].sort((a, b) => a - b).join(", ")}); keep one set`
      })
    }
    const [n, entry] = [...scan.counts.entries()][0]!
    const beyond = scan.names.filter((name) => Number(SHARD_FILE.exec(name)![2]) >= n)
    if (beyond.length > 0)
      return yield* new EmbeddingShardsMismatch({ dir, files: beyond, reason: `shard numbers of ${n} shards run from 0 to ${n - 1}` })
    const missing: Array<string> = []
    for (let i = 0; i < n; i++) {
      if (!entry.features.has(i)) missing.push(shardFiles.features(i, n))
      if (!entry.finished.has(i)) missing.push(shardFiles.rows(i, n))
    }
    if (missing.length > 0) return yield* new EmbeddingShardsMissing({ dir, missing })
    const counts: Array<number> = []
    let dim: number | undefined
    for (let i = 0; i < n; i++) {
      const features = yield* readNpyHeader(join(dir, shardFiles.features(i, n)))
      const rows = yield* readNpyHeader(join(dir, shardFiles.rows(i, n)))
      const files = [shardFiles.features(i, n), shardFiles.rows(i, n)]
      if (features.dtype !== "float32" || features.shape.length !== 2 || features.shape[1]! < 1)
        return yield* new EmbeddingShardsMismatch({
          dir,
          files: [files[0]!],
          reason: `features must be float32 (rows, D), got ${features.dtype} (${features.shape.join(", ")})`
        })
      if (rows.dtype !== "int64" || rows.shape.length !== 1)
        return yield* new EmbeddingShardsMismatch({
          dir,
          files: [files[1]!],
          reason: `rows must be int64 (rows,), got ${rows.dtype} (${rows.shape.join(", ")})`
        })
      if (rows.shape[0] !== features.shape[0])
        return yield* new EmbeddingShardsMismatch({ dir, files, reason: `${features.shape[0]} feature rows but ${rows.shape[0]} row ids` })
      if (dim !== undefined && features.shape[1] !== dim)
        return yield* new EmbeddingShardsMismatch({
          dir,
          files: [shardFiles.features(0, n), files[0]!],
          reason: `features ${dim} wide in shard 0 but ${features.shape[1]} wide in shard ${i}`
        })
      dim = features.shape[1]!
      counts.push(features.shape[0]!)
    }
    const total = counts.reduce((a, b) => a + b, 0)
    for (let i = 0; i < n; i++) {
      const [start, end] = shardRange(i, n, total)
      if (counts[i] !== end - start)
        return yield* new EmbeddingShardsMismatch({
          dir,
          files: [shardFiles.rows(i, n)],
          reason: `shard ${i} of ${n} over N=${total} rows must hold rows [${start}, ${end}) (${end - start}), it holds ${counts[i]}: shards of different runs or datasets?`
        })
    }
    return { dir, n, total, dim: dim!, counts }
  })

/** Shard i's features and its global ids (checked: the range shardRange gives). */
export const readShard = (set: ShardSet, i: number) =>
  Effect.gen(function* () {
    const featuresPath = join(set.dir, shardFiles.features(i, set.n))
    const rowsPath = join(set.dir, shardFiles.rows(i, set.n))
    const features = yield* readNpy(featuresPath)
    const rows = yield* readNpy(rowsPath)
    const [start, end] = shardRange(i, set.n, set.total)
    if (
      features.dtype !== "float32" ||
      rows.dtype !== "int64" ||
      features.data.length !== (end - start) * set.dim ||
      rows.data.length !== end - start
    )
      return yield* new EmbeddingShardsMismatch({
        dir: set.dir,
        files: [shardFiles.features(i, set.n), shardFiles.rows(i, set.n)],
        reason: "changed while being read"
      })
    const ids = new Int32Array(end - start)
    for (let r = 0; r < ids.length; r++) {
      if (rows.data[r] !== BigInt(start + r))
        return yield* new EmbeddingShardsMismatch({
          dir: set.dir,
          files: [shardFiles.rows(i, set.n)],
          reason: `row ${r} holds id ${rows.data[r]}, expected ${start + r} (shard ${i} holds rows [${start}, ${end}))`
        })
      ids[r] = start + r
    }
    return { features: features.data, ids }
  })
