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
import { atomicWrite } from "@bingo/runtime"
import { Effect } from "effect"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { type Bags, makeBags } from "./Bags.ts"
import { bagPurity } from "./bagPurity.ts"
import {
  BagFileError,
  EmbeddingShardsMismatch,
  EmbeddingShardsMissing,
  NeighboursMissing,
  type NpyReadError,
  ShardOutputsMismatch,
  ShardOutputsMissing
} from "./BagMinerError.ts"
import { driveSteps } from "./driveSteps.ts"
import { boundedChunkSize, exactTopKSteps } from "./exactTopK.ts"
import { buildHnswSteps, createHnswIndex, loadUsearch, openHnswIndex, saveHnswIndex, searchHnswSteps, unitRows } from "./HnswIndex.ts"
import { type HnswOptions, resolveThreads } from "./KnnSearch.ts"
import { firstShortRow, mergeTopK } from "./mergeTopK.ts"
import { type NpyArray, readNpy, readNpyHeader, writeNpy } from "./npy.ts"
import { recallAtK, sampleRows } from "./recallAtK.ts"
import { makeTopK, type TopK } from "./TopK.ts"

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

const bigIds = (ids: ArrayLike<number>): BigInt64Array => {
  const out = new BigInt64Array(ids.length)
  for (let i = 0; i < ids.length; i++) out[i] = BigInt(ids[i]!)
  return out
}

const writeJson = (path: string, value: unknown): Effect.Effect<void, BagFileError> =>
  Effect.try({
    try: () => atomicWrite(path, `${JSON.stringify(value, null, 2)}\n`),
    catch: (e) => new BagFileError({ path, operation: "write", reason: e instanceof Error ? e.message : String(e) })
  })

const readJson = (path: string): Effect.Effect<Record<string, unknown>, BagFileError> =>
  Effect.try({
    try: () => JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>,
    catch: (e) => new BagFileError({ path, operation: "read", reason: e instanceof Error ? e.message : String(e) })
  })

/** Whether shard i of n is finished (its rows file, written last, exists). */
export const embeddingShardDone = (dir: string, i: number, n: number): boolean => existsSync(join(dir, shardFiles.rows(i, n)))

/**
 * Write shard i of n: features (rows x dim float32), labels (int32, when given), a small json
 * (`info`, e.g. seconds), and last the int64 global ids [start, start + rows), which mark it finished.
 */
export const writeEmbeddingShard = (
  dir: string,
  i: number,
  n: number,
  shard: {
    readonly start: number
    readonly features: Float32Array
    readonly dim: number
    readonly labels?: Int32Array | undefined
    readonly info: Record<string, unknown>
  }
): Effect.Effect<void, BagFileError> =>
  Effect.gen(function* () {
    const rows = shard.features.length / shard.dim
    yield* writeNpy(join(dir, shardFiles.features(i, n)), { dtype: "float32", shape: [rows, shard.dim], data: shard.features })
    if (shard.labels !== undefined)
      yield* writeNpy(join(dir, shardFiles.labels(i, n)), { dtype: "int32", shape: [rows], data: shard.labels })
    yield* writeJson(join(dir, shardFiles.embedInfo(i, n)), { shard: i, shards: n, rows, dim: shard.dim, ...shard.info })
    yield* writeNpy(join(dir, shardFiles.rows(i, n)), {
      dtype: "int64",
      shape: [rows],
      data: bigIds(Int32Array.from({ length: rows }, (_, r) => shard.start + r))
    })
  })

/** Build and save the HNSW index of shard s (no-op when its file exists). Returns whether it built one. */
export const indexShard = (set: ShardSet, s: number, hnsw: HnswOptions) =>
  Effect.gen(function* () {
    const path = join(set.dir, shardFiles.index(s, set.n))
    if (existsSync(path)) {
      yield* Effect.logInfo(`bags index: ${path} exists; nothing to do`)
      return false
    }
    const started = performance.now()
    const usearch = yield* loadUsearch
    const { features, ids } = yield* readShard(set, s)
    const threads = resolveThreads(hnsw.threads)
    yield* Effect.logInfo(`bags index: shard ${s} of ${set.n} (${ids.length} rows x ${set.dim}), ${threads} thread(s)`)
    const index = createHnswIndex(usearch, set.dim, hnsw)
    yield* driveSteps(() => buildHnswSteps(index, unitRows(features, set.dim), set.dim, ids, threads))
    const seconds = (performance.now() - started) / 1000
    yield* writeJson(join(set.dir, shardFiles.indexInfo(s, set.n)), {
      shard: s,
      shards: set.n,
      rows: ids.length,
      hnsw: { ...hnsw, threads },
      seconds
    })
    yield* saveHnswIndex(index, path)
    yield* Effect.logInfo(`bags index: saved ${path} in ${seconds.toFixed(1)} s`)
    return true
  })

/** How the search tasks run: the neighbours K, exact or HNSW, and their settings. */
export interface ShardSearchSettings {
  readonly k: number
  readonly search: "exact" | "hnsw"
  readonly hnsw: HnswOptions
  /** Exact search: query rows per similarity block (default `boundedChunkSize` of the index shard: at most 256 MiB of similarities). */
  readonly chunkSize?: number
}

/**
 * Search task (q, s): the top-(K+1) of each row of shard q among the rows of shard s, exactly
 * (`exactTopKSteps`) or in shard s's HNSW index; written as topk-<q>-<s>-of-<n>.sims.npy, .json
 * and .ids.npy (last). No-op when the ids file exists. Returns whether it searched.
 */
export const searchShardPair = (set: ShardSet, q: number, s: number, settings: ShardSearchSettings) =>
  Effect.gen(function* () {
    const idsPath = join(set.dir, shardFiles.topkIds(q, s, set.n))
    if (existsSync(idsPath)) {
      yield* Effect.logInfo(`bags search: ${idsPath} exists; nothing to do`)
      return false
    }
    const started = performance.now()
    const width = settings.k + 1
    const queries = yield* readShard(set, q)
    yield* Effect.logInfo(
      `bags search: query shard ${q} (${queries.ids.length} rows) against index shard ${s} of ${set.n}, ${settings.search}, K=${settings.k}`
    )
    let top: TopK
    let index: Record<string, unknown> | null = null
    if (settings.search === "exact") {
      const indexShard = q === s ? queries : yield* readShard(set, s)
      top = yield* driveSteps(() =>
        exactTopKSteps(queries.features, indexShard.features, set.dim, {
          width,
          indexIds: indexShard.ids,
          chunkSize: settings.chunkSize ?? boundedChunkSize(indexShard.ids.length)
        })
      )
    } else {
      const path = join(set.dir, shardFiles.index(s, set.n))
      if (!existsSync(path)) return yield* new ShardOutputsMissing({ dir: set.dir, step: "index", missing: [shardFiles.index(s, set.n)] })
      const usearch = yield* loadUsearch
      const opened = yield* openHnswIndex(usearch, path, set.dim, settings.hnsw)
      const infoPath = join(set.dir, shardFiles.indexInfo(s, set.n))
      index = existsSync(infoPath) ? ((yield* readJson(infoPath))["hnsw"] as Record<string, unknown>) : null
      const threads = resolveThreads(settings.hnsw.threads)
      top = yield* driveSteps(() => searchHnswSteps(opened, unitRows(queries.features, set.dim), set.dim, width, threads))
    }
    const seconds = (performance.now() - started) / 1000
    yield* writeNpy(join(set.dir, shardFiles.topkSims(q, s, set.n)), { dtype: "float32", shape: [top.rows, width], data: top.sims })
    yield* writeJson(join(set.dir, shardFiles.topkInfo(q, s, set.n)), {
      query: q,
      index: s,
      shards: set.n,
      k: settings.k,
      search: settings.search,
      hnsw: settings.search === "hnsw" ? { built: index, expansionSearch: settings.hnsw.expansionSearch } : null,
      seconds
    })
    yield* writeNpy(idsPath, { dtype: "int64", shape: [top.rows, width], data: bigIds(top.ids) })
    yield* Effect.logInfo(`bags search: wrote ${idsPath} in ${seconds.toFixed(1)} s`)
    return true
  })

/** What `mergeShards` reports (bags.json). */
export interface MergeReport {
  readonly N: number
  readonly D: number
  readonly K: number
  readonly shards: number
  readonly search: "exact" | "hnsw"
  /** HNSW: the settings each index was built with (shard 0's) and searched with. */
  readonly index: Record<string, unknown> | null
  /** Fraction of bag neighbours sharing the anchor's label (when every shard has labels). */
  readonly purity: number | null
  /** HNSW: recall@K against exact search on `recallSample` sampled anchors. */
  readonly recall: number | null
  readonly recallSample: number | null
  /** Seconds per stage, summed over its tasks (null when a task left no record), and the merge's own. */
  readonly seconds: {
    readonly embed: number | null
    readonly index: number | null
    readonly search: number | null
    readonly merge: number
    readonly recall: number | null
  }
}

const sumSeconds = (infos: ReadonlyArray<Record<string, unknown> | undefined>): number | null =>
  infos.every((i) => typeof i?.["seconds"] === "number") ? infos.reduce((a, i) => a + (i!["seconds"] as number), 0) : null

const readOptionalJson = (path: string) =>
  existsSync(path) ? Effect.map(readJson(path), (j) => j as Record<string, unknown> | undefined) : Effect.succeed(undefined)

/**
 * Merge every partial list into the bags: for each query shard, its n partials by `mergeTopK`
 * (anchor dropped, (similarity desc, id asc), K kept). Every partial must be there and searched
 * with this K (ShardOutputsMissing / ShardOutputsMismatch otherwise). HNSW partials get their
 * recall@K measured against exact search on `recallSample` anchors drawn with `seed`.
 */
export const mergeShards = (set: ShardSet, options: { readonly k: number; readonly recallSample: number; readonly seed: number }) =>
  Effect.gen(function* () {
    const started = performance.now()
    const { n, dir } = set
    const { k } = options
    const missing: Array<string> = []
    for (let q = 0; q < n; q++)
      for (let s = 0; s < n; s++)
        for (const name of [shardFiles.topkIds(q, s, n), shardFiles.topkSims(q, s, n), shardFiles.topkInfo(q, s, n)])
          if (!existsSync(join(dir, name))) missing.push(name)
    if (missing.length > 0) return yield* new ShardOutputsMissing({ dir, step: "search", missing })
    const infos: Array<Record<string, unknown>> = []
    for (let q = 0; q < n; q++) for (let s = 0; s < n; s++) infos.push(yield* readJson(join(dir, shardFiles.topkInfo(q, s, n))))
    const search = infos[0]!["search"] as "exact" | "hnsw"
    for (let t = 0; t < infos.length; t++) {
      const name = shardFiles.topkInfo(Math.floor(t / n), t % n, n)
      if (infos[t]!["k"] !== k)
        return yield* new ShardOutputsMismatch({
          files: [join(dir, name)],
          reason: `searched with K=${infos[t]!["k"]}, but bags.k is ${k}; delete the topk-* files and run \`bingo bags search\` again`
        })
      if (infos[t]!["search"] !== search)
        return yield* new ShardOutputsMismatch({
          files: [join(dir, shardFiles.topkInfo(0, 0, n)), join(dir, name)],
          reason: `searched ${search} and ${infos[t]!["search"]}; delete the topk-* files of one and search again`
        })
    }
    const neighbours = new Int32Array(set.total * k)
    let allLabels: Int32Array | undefined = new Int32Array(set.total)
    for (let q = 0; q < n; q++) {
      const [start, end] = shardRange(q, n, set.total)
      const queryIds = Int32Array.from({ length: end - start }, (_, r) => start + r)
      const partials: Array<TopK> = []
      for (let s = 0; s < n; s++) partials.push(yield* readPartial(dir, q, s, n, queryIds.length, k + 1))
      const merged = mergeTopK(partials, queryIds, k)
      const short = firstShortRow(merged, k)
      if (short !== undefined) return yield* new NeighboursMissing({ row: start + short.row, found: short.found, k })
      neighbours.set(merged, start * k)
      const labelsPath = join(dir, shardFiles.labels(q, n))
      if (allLabels !== undefined && existsSync(labelsPath)) {
        const labels = yield* readNpy(labelsPath)
        if (labels.dtype !== "int32" || labels.data.length !== end - start)
          return yield* new EmbeddingShardsMismatch({
            dir,
            files: [shardFiles.labels(q, n)],
            reason: `expected ${end - start} int32 labels`
          })
        allLabels.set(labels.data, start)
      } else allLabels = undefined
    }
    const bags = makeBags(set.total, k, neighbours)
    const mergeSeconds = (performance.now() - started) / 1000
    let recall: number | null = null
    let recallSeconds: number | null = null
    let sample: Int32Array | undefined
    if (search === "hnsw" && options.recallSample > 0) {
      const t0 = performance.now()
      sample = sampleRows(set.total, options.recallSample, options.seed)
      yield* Effect.logInfo(`bags merge: measuring recall@${k} against exact search on ${sample.length} sampled anchors`)
      recall = yield* shardedRecall(set, bags, sample)
      recallSeconds = (performance.now() - t0) / 1000
      yield* Effect.logInfo(`bags merge: HNSW recall@${k} ${(100 * recall).toFixed(2)}% (${sample.length} anchors)`)
    }
    const embedInfos: Array<Record<string, unknown> | undefined> = []
    const indexInfos: Array<Record<string, unknown> | undefined> = []
    for (let i = 0; i < n; i++) {
      embedInfos.push(yield* readOptionalJson(join(dir, shardFiles.embedInfo(i, n))))
      if (search === "hnsw") indexInfos.push(yield* readOptionalJson(join(dir, shardFiles.indexInfo(i, n))))
    }
    const report: MergeReport = {
      N: set.total,
      D: set.dim,
      K: k,
      shards: n,
      search,
      index: search === "hnsw" ? ((infos[0]!["hnsw"] as Record<string, unknown> | null) ?? null) : null,
      purity: allLabels === undefined ? null : bagPurity(bags, allLabels).overall,
      recall,
      recallSample: sample === undefined ? null : sample.length,
      seconds: {
        embed: sumSeconds(embedInfos),
        index: search === "hnsw" ? sumSeconds(indexInfos) : null,
        search: sumSeconds(infos),
        merge: mergeSeconds,
        recall: recallSeconds
      }
    }
    return { bags, report }
  })

const readPartial = (dir: string, q: number, s: number, n: number, rows: number, width: number) =>
  Effect.gen(function* () {
    const idsName = shardFiles.topkIds(q, s, n)
    const simsName = shardFiles.topkSims(q, s, n)
    const ids = yield* readNpy(join(dir, idsName))
    const sims = yield* readNpy(join(dir, simsName))
    const shapeOk = (a: NpyArray) => a.shape.length === 2 && a.shape[0] === rows && a.shape[1] === width
    if (ids.dtype !== "int64" || !shapeOk(ids) || sims.dtype !== "float32" || !shapeOk(sims))
      return yield* new ShardOutputsMismatch({
        files: [join(dir, idsName), join(dir, simsName)],
        reason: `expected int64 ids and float32 similarities of shape (${rows}, ${width}) (query shard ${q}'s rows x K+1), got ${ids.dtype} (${ids.shape.join(", ")}) and ${sims.dtype} (${sims.shape.join(", ")})`
      })
    const narrow = new Int32Array(ids.data.length)
    for (let i = 0; i < narrow.length; i++) narrow[i] = Number(ids.data[i] as bigint)
    return makeTopK(rows, width, narrow, sims.data as Float32Array)
  })

/**
 * Recall@K of merged bags on sampled anchors, shard by shard (never all N features at once):
 * the sample's features gathered from their shards, then exact top-(K+1) against each shard,
 * merged by the knnBags rule, compared with the bags' rows.
 */
const shardedRecall = (set: ShardSet, bags: Bags, sample: Int32Array) =>
  Effect.gen(function* () {
    const { k } = bags
    const queries = new Float32Array(sample.length * set.dim)
    for (let i = 0; i < set.n; i++) {
      const [start, end] = shardRange(i, set.n, set.total)
      const inShard = [...sample.keys()].filter((j) => sample[j]! >= start && sample[j]! < end)
      if (inShard.length === 0) continue
      const { features } = yield* readShard(set, i)
      for (const j of inShard)
        queries.set(features.subarray((sample[j]! - start) * set.dim, (sample[j]! - start + 1) * set.dim), j * set.dim)
    }
    const partials: Array<TopK> = []
    for (let i = 0; i < set.n; i++) {
      const shard = yield* readShard(set, i)
      partials.push(
        yield* driveSteps(() =>
          exactTopKSteps(queries, shard.features, set.dim, {
            width: k + 1,
            indexIds: shard.ids,
            chunkSize: boundedChunkSize(shard.ids.length)
          })
        )
      )
    }
    const approx = new Int32Array(sample.length * k)
    sample.forEach((row, j) => approx.set(bags.neighbours.subarray(row * k, (row + 1) * k), j * k))
    return recallAtK(approx, mergeTopK(partials, sample, k), k)
  })
