import { describe, expect, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { EmbeddingShardsMismatch, EmbeddingShardsMissing, ShardOutputsMismatch, ShardOutputsMissing } from "../src/BagMinerError.ts"
import { bagPurity } from "../src/bagPurity.ts"
import { writeEmbeddingShard } from "../src/embeddingShards.ts"
import { boundedChunkSize, exactTopK } from "../src/exactTopK.ts"
import { defaultHnswOptions } from "../src/KnnSearch.ts"
import { knnBags } from "../src/knnBags.ts"
import { mergeShards } from "../src/mergeShards.ts"
import { mergeTopK } from "../src/mergeTopK.ts"
import { readNpy, writeNpy } from "../src/npy.ts"
import { readShard, readShardSet, type ShardSet, shardFiles, shardRange } from "../src/shardLayout.ts"
import { searchShardPair } from "../src/shardSearch.ts"
import { blobs, randomFeatures, useCpu } from "./helpers.ts"

const tmp = () => mkdtempSync(join(tmpdir(), "bingo-shards-"))

/** Features with exact duplicate rows and exact ties: every third row copies row 0, values on a coarse grid. */
const withDuplicates = (n: number, dim: number, seed: number): Float32Array => {
  const f = randomFeatures(n, dim, seed).map((x) => Math.round(x * 2) / 2)
  for (let i = 0; i < n; i += 3) f.copyWithin(i * dim, 0, dim)
  return f
}

/** Exact sharded bags by the library alone: each shard's rows as the index, all queries, merged. */
const shardedExact = (features: Float32Array, dim: number, k: number, shards: number): Int32Array => {
  const n = features.length / dim
  const partials = Array.from({ length: shards }, (_, s) => {
    const [start, end] = shardRange(s, shards, n)
    const ids = Int32Array.from({ length: end - start }, (_, r) => start + r)
    return exactTopK(features, features.subarray(start * dim, end * dim), dim, { width: k + 1, indexIds: ids, chunkSize: 7 })
  })
  return mergeTopK(
    partials,
    Int32Array.from({ length: n }, (_, i) => i),
    k
  )
}

const writeShards = (dir: string, features: Float32Array, dim: number, shards: number, labels?: Int32Array) =>
  Effect.gen(function* () {
    const n = features.length / dim
    for (let i = 0; i < shards; i++) {
      const [start, end] = shardRange(i, shards, n)
      yield* writeEmbeddingShard(dir, i, shards, {
        start,
        features: features.slice(start * dim, end * dim),
        dim,
        labels: labels?.slice(start, end),
        info: { seconds: 1 }
      })
    }
  })

const exactSettings = (k: number) => ({ k, search: "exact" as const, hnsw: defaultHnswOptions, chunkSize: 5 })

const searchAll = (set: ShardSet, k: number) =>
  Effect.gen(function* () {
    for (let t = 0; t < set.n * set.n; t++) yield* searchShardPair(set, Math.floor(t / set.n), t % set.n, exactSettings(k))
  })

describe("exact search over shards", () => {
  it("gives knnBags' bags for 1, 2 and 3 shards, on random features and on duplicates with ties, leaking no tensor", async () => {
    await useCpu()
    for (const [features, dim] of [
      [randomFeatures(61, 6, 1), 6],
      [withDuplicates(47, 4, 2), 4]
    ] as const) {
      for (const k of [1, 3, 5]) {
        const expected = Array.from(knnBags(features, dim, { k }).neighbours)
        const before = tf.memory().numTensors
        for (const shards of [1, 2, 3]) expect(Array.from(shardedExact(features, dim, k, shards))).toEqual(expected)
        expect(tf.memory().numTensors).toBe(before)
      }
    }
  })

  it("fills the slots an index shard smaller than K+1 cannot", async () => {
    await useCpu()
    const top = exactTopK(randomFeatures(3, 2, 4), randomFeatures(2, 2, 5), 2, { width: 4, indexIds: [10, 11] })
    expect(Array.from(top.ids.subarray(0, 4)).slice(2)).toEqual([-1, -1])
    expect(Array.from(top.sims.subarray(0, 4)).slice(2)).toEqual([-Infinity, -Infinity])
    expect(new Set(top.ids.subarray(0, 2))).toEqual(new Set([10, 11]))
  })

  it("bounds a block's similarities to 256 MiB", () => {
    expect(boundedChunkSize(65_536)).toBe(1024)
    expect(boundedChunkSize(250_000)).toBe(268) // 2^26 / 250,000
    expect(boundedChunkSize(10 ** 9)).toBe(1)
  })
})

describe("ShardedKnn (files)", () => {
  it.effect("embed shards, n x n exact search tasks and merge give knnBags' bags, purity and the report; re-running is a no-op", () =>
    Effect.gen(function* () {
      yield* Effect.promise(useCpu)
      const { features, labels } = blobs([20, 15, 18], 5, 0.4, 3)
      const dim = 5
      const k = 4
      const expected = knnBags(features, dim, { k })
      for (const shards of [1, 2, 3]) {
        const dir = tmp()
        yield* writeShards(dir, features, dim, shards, labels)
        const set = yield* readShardSet(dir)
        expect({ n: set.n, total: set.total, dim: set.dim }).toEqual({ n: shards, total: 53, dim })
        yield* searchAll(set, k)
        expect(yield* searchShardPair(set, 0, 0, exactSettings(k))).toBe(false)
        const { bags, report } = yield* mergeShards(set, { k, recallSample: 10, seed: 0 })
        expect(Array.from(bags.neighbours)).toEqual(Array.from(expected.neighbours))
        expect(report).toMatchObject({ N: 53, D: dim, K: k, shards, search: "exact", index: null, recall: null, recallSample: null })
        expect(report.purity).toBe(bagPurity(expected, labels).overall)
        expect(report.seconds.embed).toBe(shards) // one second recorded per embedding shard
        expect(report.seconds.search).toBeGreaterThanOrEqual(0)
        // ids written last: every search output present, nothing temporary left
        expect(readdirSync(dir).filter((f) => f.startsWith("."))).toEqual([])
        const ids = yield* readNpy(join(dir, shardFiles.topkIds(0, shards - 1, shards)))
        expect(ids.dtype).toBe("int64")
        rmSync(dir, { recursive: true })
      }
    })
  )

  it.effect("names missing, unfinished and mismatched shard files", () =>
    Effect.gen(function* () {
      const features = randomFeatures(10, 3, 0)
      const empty = tmp()
      expect(yield* Effect.flip(readShardSet(empty))).toBeInstanceOf(EmbeddingShardsMissing)

      const dir = tmp()
      yield* writeShards(dir, features, 3, 3)
      rmSync(join(dir, shardFiles.rows(1, 3)))
      expect(yield* Effect.flip(readShardSet(dir))).toEqual(new EmbeddingShardsMissing({ dir, missing: ["rows-1-of-3.npy"] }))

      yield* writeShards(dir, features, 3, 2)
      const mixed = yield* Effect.flip(readShardSet(dir))
      expect(mixed).toBeInstanceOf(EmbeddingShardsMismatch)
      expect(mixed.message).toMatch(/2 different shard counts \(2, 3\)/)

      const wide = tmp()
      yield* writeShards(wide, features, 3, 2)
      yield* writeNpy(join(wide, shardFiles.features(1, 2)), { dtype: "float32", shape: [5, 2], data: new Float32Array(10) })
      expect((yield* Effect.flip(readShardSet(wide))).message).toMatch(/features 3 wide in shard 0 but 2 wide in shard 1/)

      // shards of another N: 5 rows then 8 rows cannot be shards 0 and 1 of 13 ([0, 6) and [6, 13))
      const skewed = tmp()
      yield* writeEmbeddingShard(skewed, 0, 2, { start: 0, features: features.slice(0, 15), dim: 3, info: {} })
      yield* writeEmbeddingShard(skewed, 1, 2, { start: 5, features: randomFeatures(8, 3, 2), dim: 3, info: {} })
      expect((yield* Effect.flip(readShardSet(skewed))).message).toMatch(
        /rows-0-of-2.npy\): shard 0 of 2 over N=13 rows must hold rows \[0, 6\) \(6\), it holds 5/
      )

      // the right counts but other ids: found when the shard is read
      const shifted = tmp()
      yield* writeEmbeddingShard(shifted, 0, 2, { start: 0, features: features.slice(0, 15), dim: 3, info: {} })
      yield* writeEmbeddingShard(shifted, 1, 2, { start: 6, features: features.slice(15), dim: 3, info: {} })
      const set = yield* readShardSet(shifted)
      expect((yield* Effect.flip(readShard(set, 1))).message).toMatch(/rows-1-of-2.npy\): row 0 holds id 6, expected 5/)
    })
  )

  it.effect("merge lists the missing partials, and refuses partials searched with another K", () =>
    Effect.gen(function* () {
      yield* Effect.promise(useCpu)
      const dir = tmp()
      yield* writeShards(dir, randomFeatures(12, 3, 0), 3, 2)
      const set = yield* readShardSet(dir)
      yield* searchShardPair(set, 0, 0, exactSettings(2))
      yield* searchShardPair(set, 1, 1, exactSettings(2))
      const missing = yield* Effect.flip(mergeShards(set, { k: 2, recallSample: 0, seed: 0 }))
      expect(missing).toBeInstanceOf(ShardOutputsMissing)
      expect((missing as ShardOutputsMissing).missing).toEqual([
        "topk-0-1-of-2.ids.npy",
        "topk-0-1-of-2.sims.npy",
        "topk-0-1-of-2.json",
        "topk-1-0-of-2.ids.npy",
        "topk-1-0-of-2.sims.npy",
        "topk-1-0-of-2.json"
      ])
      yield* searchShardPair(set, 0, 1, exactSettings(2))
      yield* searchShardPair(set, 1, 0, exactSettings(2))
      const wrongK = yield* Effect.flip(mergeShards(set, { k: 3, recallSample: 0, seed: 0 }))
      expect(wrongK).toBeInstanceOf(ShardOutputsMismatch)
      expect(wrongK.message).toMatch(/searched with K=2, but bags.k is 3/)
      expect(existsSync(join(dir, shardFiles.topkIds(1, 0, 2)))).toBe(true)
    })
  )
})
