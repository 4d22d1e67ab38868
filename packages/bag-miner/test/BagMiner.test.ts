import { describe, expect, it, layer } from "@effect/vitest"
import { Runtime } from "@bingo/runtime"
import * as tf from "@tensorflow/tfjs"
import { Effect, Fiber, Layer, Logger } from "effect"
import { existsSync, mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { bagPurity } from "../src/bagPurity.ts"
import { BagMiner, type MineError } from "../src/BagMiner.ts"
import { makeBags } from "../src/Bags.ts"
import { BagShapeMismatch, InvalidMinerInput } from "../src/BagMinerError.ts"
import { blobs, circle, randomFeatures, rows } from "./helpers.ts"

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url))
const tmp = () => mkdtempSync(join(tmpdir(), "bingo-miner-"))

/** Run `effect` with a logger that collects the messages. */
const withLogs = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const lines: Array<string> = []
    const logger = Logger.make(({ message }) => {
      lines.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
    })
    const value = yield* effect.pipe(Effect.provide(Logger.layer([logger])))
    return { value, lines }
  })

/** The error, checked to be InvalidMinerInput (mine can also fail with HNSW errors, which these tests do not reach). */
const asInvalidInput = (e: MineError): InvalidMinerInput => {
  if (!(e instanceof InvalidMinerInput)) throw new Error(`expected InvalidMinerInput, got ${e._tag}`)
  return e
}

const knnMiner = (options: { k: number; chunkSize?: number }) =>
  BagMiner.layer({ method: "knn", ...options }).pipe(Layer.provide(Runtime.layerTest))

describe("BagMiner.layer (knn)", () => {
  // angles 0, 10, 30, 100, 180, 185 degrees: see knnBags.test.ts for the expected rows
  const features = circle([0, 10, 30, 100, 180, 185])
  const labels = Int32Array.from([0, 0, 0, 1, 1, 1])

  it.effect("mines the hand-placed neighbours, logs progress and purity, leaks no tensor", () =>
    Effect.gen(function* () {
      const miner = yield* BagMiner
      const before = tf.memory().numTensors
      const { value: bags, lines } = yield* withLogs(miner.mine({ features, dim: 2, labels }))
      expect(tf.memory().numTensors).toBe(before)
      expect(rows(bags.neighbours, 2)).toEqual([
        [1, 2],
        [0, 2],
        [1, 0],
        [2, 4],
        [5, 3],
        [4, 3]
      ])
      expect(lines[0]).toBe("mining knn bags: N=6, D=2, K=2 on the cpu backend")
      // one line per chunk of 2 here (lines are logged at each new tenth of the work)
      expect(lines.filter((l) => l.startsWith("knn: ")).map((l) => l.replace(/, \d+\.\d s elapsed$/, ""))).toEqual([
        "knn: 2/6 (33%)",
        "knn: 4/6 (67%)",
        "knn: 6/6 (100%)"
      ])
      // purity: 0 ->{1,2} 2/2, 1 ->{0,2} 2/2, 2 ->{1,0} 2/2, 3 ->{2,4} 1/2, 4 ->{5,3} 2/2, 5 ->{4,3} 2/2
      expect(lines.at(-1)).toMatch(/^mined knn bags: 6 x 2 in \d+\.\d s, purity 91\.67%$/)
    }).pipe(Effect.provide(knnMiner({ k: 2, chunkSize: 2 })))
  )

  it.effect("frees its tensors when interrupted between chunks", () =>
    Effect.gen(function* () {
      const miner = yield* BagMiner
      const before = tf.memory().numTensors
      const fiber = yield* Effect.forkChild(miner.mine({ features: randomFeatures(400, 8, 1), dim: 8 }))
      for (let i = 0; i < 5; i++) yield* Effect.yieldNow
      expect(tf.memory().numTensors).toBeGreaterThan(before) // mid-run: features on the backend
      yield* Fiber.interrupt(fiber)
      expect(tf.memory().numTensors).toBe(before)
    }).pipe(Effect.provide(knnMiner({ k: 3, chunkSize: 10 })))
  )

  it.effect("fails with InvalidMinerInput for K >= N, ragged or non-finite features, wrong label count", () =>
    Effect.gen(function* () {
      const miner = yield* BagMiner
      const fail = (input: Parameters<typeof miner.mine>[0]) => Effect.map(Effect.flip(miner.mine(input)), asInvalidInput)
      expect(yield* fail({ features: new Float32Array(4), dim: 2 })).toEqual(
        new InvalidMinerInput({ method: "knn", reason: "kNN bags need K < N, got K=2, N=2" })
      )
      expect((yield* fail({ features: new Float32Array(7), dim: 2 })).reason).toMatch(/not a whole number of 2-wide rows/)
      expect((yield* fail({ features: Float32Array.from([1, 0, 0, 1, NaN, 0]), dim: 2 })).reason).toMatch(/row 2 holds a non-finite value/)
      expect((yield* fail({ features, dim: 2, labels: new Int32Array(5) })).reason).toBe("5 labels for 6 feature rows")
    }).pipe(Effect.provide(knnMiner({ k: 2 })))
  )

  it.effect("saves int64 .npy bags and loads them back; load checks N", () =>
    Effect.gen(function* () {
      const miner = yield* BagMiner
      const dir = tmp()
      const path = join(dir, "bags.npy")
      const bags = yield* miner.mine({ features, dim: 2 })
      yield* miner.save(path, bags)
      expect(readFileSync(path).subarray(10, 30).toString("latin1")).toBe("{'descr': '<i8', 'fo")
      const back = yield* miner.load(path, 6)
      expect(Array.from(back.neighbours)).toEqual(Array.from(bags.neighbours))
      expect(yield* Effect.flip(miner.load(path, 7))).toEqual(new BagShapeMismatch({ path, expectedN: 7, actualN: 6 }))
    }).pipe(Effect.provide(knnMiner({ k: 2 })))
  )

  it.effect("loads the reference-format int64 (N, 5) file unchanged", () =>
    Effect.gen(function* () {
      const bags = yield* (yield* BagMiner).load(fixture("bags_int64.npy"), 8)
      expect(rows(bags.neighbours, 5)[0]).toEqual([1, 2, 3, 4, 5])
    }).pipe(Effect.provide(knnMiner({ k: 5 })))
  )
})

describe("BagMiner.layer (kmeans, labels)", () => {
  it.effect("kmeans bags stay inside well-separated blobs", () =>
    Effect.gen(function* () {
      const { features, labels } = blobs([20, 20, 20], 6, 0.1, 8)
      const bags = yield* (yield* BagMiner).mine({ features, dim: 6 })
      expect(bags.k).toBe(4)
      expect(bagPurity(bags, labels).overall).toBe(1)
    }).pipe(Effect.provide(BagMiner.layer({ method: "kmeans", k: 4, clusters: 3, seed: 1 }).pipe(Layer.provide(Runtime.layerTest))))
  )

  it.effect("label bags need labels, and accept empty features", () =>
    Effect.gen(function* () {
      const miner = yield* BagMiner
      const labels = Int32Array.from([0, 1, 0, 1, 0, 1])
      expect(asInvalidInput(yield* Effect.flip(miner.mine({ features: new Float32Array(12), dim: 2 }))).reason).toBe(
        "label bags need labels"
      )
      const bags = yield* miner.mine({ features: new Float32Array(0), dim: 2, labels })
      expect(bags.n).toBe(6)
      expect(bagPurity(bags, labels).overall).toBe(1)
    }).pipe(Effect.provide(BagMiner.layer({ method: "labels", k: 2 }).pipe(Layer.provide(Runtime.layerTest))))
  )

  it.effect("refuses kmeans options without clusters when the layer is built", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Layer.build(BagMiner.layer({ method: "kmeans", k: 5 }).pipe(Layer.provide(Runtime.layerTest))))
      expect(error._tag).toBe("InvalidMinerOptions")
      expect(error.message).toMatch(/kmeans bags need clusters/)
    }).pipe(Effect.scoped)
  )
})

layer(BagMiner.layerTest)("BagMiner.layerTest", (it) => {
  it.effect("mines deterministic ring bags without labels and label bags with them", () =>
    Effect.gen(function* () {
      const miner = yield* BagMiner
      const ring = yield* miner.mine({ features: new Float32Array(7 * 3), dim: 3 })
      expect(rows(ring.neighbours, 5)[5]).toEqual([6, 0, 1, 2, 3])
      const labels = Int32Array.from([0, 1, 0, 1, 0, 1, 0, 1])
      const bags = yield* miner.mine({ features: new Float32Array(8), dim: 1, labels })
      expect(bagPurity(bags, labels).overall).toBe(1)
      expect(Array.from((yield* miner.mine({ features: new Float32Array(8), dim: 1, labels })).neighbours)).toEqual(
        Array.from(bags.neighbours)
      )
    })
  )

  it.effect("saves in memory and loads from memory first, then from disk", () =>
    Effect.gen(function* () {
      const miner = yield* BagMiner
      const path = join(tmp(), "never-written.npy")
      yield* miner.save(path, makeBags(2, 1, Int32Array.from([1, 0])))
      expect(existsSync(path)).toBe(false)
      expect(Array.from((yield* miner.load(path, 2)).neighbours)).toEqual([1, 0])
      expect((yield* Effect.flip(miner.load(path, 3)))._tag).toBe("BagShapeMismatch")
      expect((yield* miner.load(fixture("bags_int64.npy"), 8)).k).toBe(5)
    })
  )
})
