import { Effect } from "effect"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { type Bags, makeBags } from "./Bags.ts"
import { bagPurity } from "./bagPurity.ts"
import { EmbeddingShardsMismatch, NeighboursMissing, ShardOutputsMismatch, ShardOutputsMissing } from "./BagMinerError.ts"
import { driveSteps } from "./driveSteps.ts"
import { boundedChunkSize, exactTopKSteps } from "./exactTopK.ts"
import { firstShortRow, mergeTopK } from "./mergeTopK.ts"
import { type NpyArray, readNpy } from "./npy.ts"
import { recallAtK, sampleRows } from "./recallAtK.ts"
import { readJson } from "./shardFileIO.ts"
import { readShard, type ShardSet, shardFiles, shardRange } from "./shardLayout.ts"
import { makeTopK, type TopK } from "./TopK.ts"

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
