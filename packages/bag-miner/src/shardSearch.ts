import { Effect } from "effect"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { ShardOutputsMissing } from "./BagMinerError.ts"
import { driveSteps } from "./driveSteps.ts"
import { boundedChunkSize, exactTopKSteps } from "./exactTopK.ts"
import { buildHnswSteps, createHnswIndex, loadUsearch, openHnswIndex, saveHnswIndex, searchHnswSteps, unitRows } from "./HnswIndex.ts"
import { type HnswOptions, resolveThreads } from "./KnnSearch.ts"
import { writeNpy } from "./npy.ts"
import { bigIds, readJson, writeJson } from "./shardFileIO.ts"
import { readShard, type ShardSet, shardFiles } from "./shardLayout.ts"
import type { TopK } from "./TopK.ts"

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
