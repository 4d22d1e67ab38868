import { describe, expect, it } from "@effect/vitest"
import { Runtime } from "@bingo/runtime"
import * as tf from "@tensorflow/tfjs"
import { Effect, Layer, Logger } from "effect"
import { existsSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { BagMiner } from "../src/BagMiner.ts"
import { findBagsError } from "../src/Bags.ts"
import { ShardOutputsMissing } from "../src/BagMinerError.ts"
import { writeEmbeddingShard } from "../src/embeddingShards.ts"
import { hnswBagsSteps } from "../src/hnswBags.ts"
import { createHnswIndex, loadUsearch, openHnswIndex, saveHnswIndex, searchHnswSteps, buildHnswSteps, unitRows } from "../src/HnswIndex.ts"
import { defaultHnswOptions, type HnswOptions } from "../src/KnnSearch.ts"
import { knnBags } from "../src/knnBags.ts"
import { mergeShards } from "../src/mergeShards.ts"
import { recallAtK } from "../src/recallAtK.ts"
import { runSteps } from "../src/runSteps.ts"
import { readShardSet, shardFiles, shardRange } from "../src/shardLayout.ts"
import { indexShard, searchShardPair } from "../src/shardSearch.ts"
import { blobs, randomFeatures, useCpu } from "./helpers.ts"

const f32: HnswOptions = { ...defaultHnswOptions, quantization: "f32", threads: 1 }

describe("HNSW (usearch)", () => {
  it.effect("finds each row itself first and its neighbours with cosine similarity 1 - distance", () =>
    Effect.gen(function* () {
      const usearch = yield* loadUsearch
      // (1,0), (0,1), (1,1)/sqrt2 scaled: similarities 1, 0, 0.7071
      const features = Float32Array.from([2, 0, 0, 3, 1, 1])
      const index = createHnswIndex(usearch, 2, f32)
      runSteps(buildHnswSteps(index, unitRows(features, 2), 2, [10, 11, 12], 1))
      const top = runSteps(searchHnswSteps(index, unitRows(features, 2), 2, 3, 1))
      expect(Array.from(top.ids.subarray(0, 3))).toEqual([10, 12, 11])
      expect(top.sims[0]).toBeCloseTo(1, 6)
      expect(top.sims[1]).toBeCloseTo(Math.SQRT1_2, 6)
      expect(top.sims[2]).toBeCloseTo(0, 6)
      expect(top.ids[3]).toBe(11)
      expect(top.ids[6]).toBe(12)
      // one query comes back from usearch in another form: same result
      const one = runSteps(searchHnswSteps(index, unitRows(features.subarray(0, 2), 2), 2, 5, 1))
      expect(Array.from(one.ids)).toEqual([10, 12, 11, -1, -1])
      expect(one.sims[4]).toBe(-Infinity)
    })
  )

  it.effect("saves atomically and loads back the same index; a missing file is a typed error", () =>
    Effect.gen(function* () {
      const usearch = yield* loadUsearch
      const features = unitRows(randomFeatures(50, 4, 1), 4)
      const index = createHnswIndex(usearch, 4, f32)
      runSteps(
        buildHnswSteps(
          index,
          features,
          4,
          Array.from({ length: 50 }, (_, i) => 100 + i),
          1
        )
      )
      const path = join(mkdtempSync(join(tmpdir(), "bingo-hnsw-")), "index.usearch")
      yield* saveHnswIndex(index, path)
      const loaded = yield* openHnswIndex(usearch, path, 4, f32)
      expect(loaded.size()).toBe(50)
      const a = runSteps(searchHnswSteps(index, features, 4, 5, 1))
      const b = runSteps(searchHnswSteps(loaded, features, 4, 5, 1))
      expect(Array.from(b.ids)).toEqual(Array.from(a.ids))
      const missing = yield* Effect.flip(openHnswIndex(usearch, `${path}.nope`, 4, f32))
      expect(missing._tag).toBe("HnswFailed")
      expect(missing.message).toContain("index.usearch.nope")
    })
  )

  it.effect("HNSW bags on a small set are valid kNN bags with recall@K near 1 against knnBags", () =>
    Effect.gen(function* () {
      yield* Effect.promise(useCpu)
      const usearch = yield* loadUsearch
      const features = randomFeatures(400, 8, 2)
      const k = 5
      for (const quantization of ["f32", "f16", "i8"] as const) {
        const bags = runSteps(hnswBagsSteps(usearch, features, 8, { k, hnsw: { ...f32, quantization } }))
        expect(findBagsError(bags, 400)).toBeUndefined()
        const recall = recallAtK(bags.neighbours, knnBags(features, 8, { k }).neighbours, k)
        // 400 points, expansion 64: the graph search is all but exhaustive; quantisation can swap near-ties
        expect(recall).toBeGreaterThan(quantization === "i8" ? 0.9 : 0.97)
      }
    })
  )

  it.effect("BagMiner with search hnsw mines through the index and logs recall", () =>
    Effect.gen(function* () {
      yield* Effect.promise(useCpu)
      const lines: Array<string> = []
      const logger = Logger.make(({ message }) => void lines.push((Array.isArray(message) ? message : [message]).map(String).join(" ")))
      const { features, labels } = blobs([40, 40], 6, 0.3, 5)
      const miner = BagMiner.layer({
        method: "knn",
        k: 3,
        search: "auto",
        exactUpTo: 79,
        hnsw: { quantization: "f32", threads: 1 },
        recallSample: 30
      }).pipe(Layer.provide(Runtime.layerTest))
      const before = tf.memory().numTensors
      const bags = yield* Effect.gen(function* () {
        return yield* (yield* BagMiner).mine({ features, dim: 6, labels })
      }).pipe(Effect.provide(miner), Effect.provide(Logger.layer([logger])))
      expect(tf.memory().numTensors).toBe(before)
      expect(findBagsError(bags, 80)).toBeUndefined()
      expect(lines).toContain("knn search: HNSW (N > bags.exactUpTo 79): connectivity 16, expansion add 128 / search 192, f32, 1 thread(s)")
      const recallLine = lines.find((l) => l.startsWith("knn search: HNSW recall@3 "))
      expect(recallLine).toMatch(/^knn search: HNSW recall@3 \d+\.\d\d% against exact search on 30 sampled anchors$/)
      expect(lines.filter((l) => l.startsWith("hnsw index: ")).length).toBeGreaterThan(0)
    })
  )
})

describe("ShardedKnn with HNSW", () => {
  it.effect("index, n x n searches and merge give valid bags and a measured recall; search without its index is a typed error", () =>
    Effect.gen(function* () {
      yield* Effect.promise(useCpu)
      const { features, labels } = blobs([60, 50, 40], 6, 0.3, 7)
      const dim = 6
      const k = 4
      const dir = mkdtempSync(join(tmpdir(), "bingo-hnsw-shards-"))
      for (let i = 0; i < 2; i++) {
        const [start, end] = shardRange(i, 2, 150)
        yield* writeEmbeddingShard(dir, i, 2, {
          start,
          features: features.slice(start * dim, end * dim),
          dim,
          labels: labels.slice(start, end),
          info: {}
        })
      }
      const set = yield* readShardSet(dir)
      const settings = { k, search: "hnsw" as const, hnsw: f32 }
      const noIndex = yield* Effect.flip(searchShardPair(set, 0, 1, settings))
      expect(noIndex).toEqual(new ShardOutputsMissing({ dir, step: "index", missing: ["index-1-of-2.usearch"] }))
      for (let s = 0; s < 2; s++) expect(yield* indexShard(set, s, f32)).toBe(true)
      expect(yield* indexShard(set, 0, f32)).toBe(false)
      expect(existsSync(join(dir, shardFiles.index(1, 2)))).toBe(true)
      for (let t = 0; t < 4; t++) yield* searchShardPair(set, Math.floor(t / 2), t % 2, settings)
      const { bags, report } = yield* mergeShards(set, { k, recallSample: 150, seed: 1 })
      expect(findBagsError(bags, 150)).toBeUndefined()
      // with every row sampled, the reported recall is recall against knnBags itself
      const exact = knnBags(features, dim, { k })
      expect(report.recall).toBeCloseTo(recallAtK(bags.neighbours, exact.neighbours, k), 12)
      expect(report.recall).toBeGreaterThan(0.95)
      expect(report).toMatchObject({ N: 150, D: dim, K: k, shards: 2, search: "hnsw", recallSample: 150 })
      expect(report.index).toMatchObject({ built: { connectivity: 16, quantization: "f32", threads: 1 }, expansionSearch: 192 })
      expect(report.seconds.index).toBeGreaterThanOrEqual(0)
      expect(report.seconds.embed).toBeNull() // these test shards recorded no seconds
    })
  )
})
