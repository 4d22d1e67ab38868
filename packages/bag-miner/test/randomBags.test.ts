import { describe, expect, it, layer } from "@effect/vitest"
import { Runtime } from "@bingo/runtime"
import { Effect, Layer } from "effect"
import { BagMiner } from "../src/BagMiner.ts"
import { findBagsError } from "../src/Bags.ts"
import { InvalidMinerInput } from "../src/BagMinerError.ts"
import { randomBags } from "../src/randomBags.ts"
import { rows } from "./helpers.ts"

describe("randomBags", () => {
  const bags = randomBags(50, { k: 7, seed: 3 })
  const bagRows = rows(bags.neighbours, 7)

  it("is N x K with every index a sample of the dataset", () => {
    expect(bags.n).toBe(50)
    expect(bags.k).toBe(7)
    expect(bags.neighbours).toHaveLength(350)
    expect(findBagsError(bags, 50)).toBeUndefined()
  })

  it("never lists the anchor and never repeats a neighbour within a bag", () => {
    bagRows.forEach((row, i) => {
      expect(row).not.toContain(i)
      expect(new Set(row).size).toBe(7)
    })
  })

  it("is deterministic for a seed and changes with it", () => {
    expect(Array.from(randomBags(50, { k: 7, seed: 3 }).neighbours)).toEqual(Array.from(bags.neighbours))
    expect(Array.from(randomBags(50, { k: 7, seed: 4 }).neighbours)).not.toEqual(Array.from(bags.neighbours))
  })

  it("draws neighbours uniformly: every other sample about equally often", () => {
    // 2000 anchors x K = 10 draws over 1999 others each: each sample is drawn ~10 times
    const big = randomBags(2000, { k: 10, seed: 0 })
    const hits = new Array<number>(2000).fill(0)
    for (const j of big.neighbours) hits[j]!++
    expect(hits.reduce((a, b) => a + b, 0)).toBe(20_000)
    expect(Math.max(...hits)).toBeLessThan(30) // Poisson(10): P(>= 30) ~ 1e-7 per sample
  })

  it("K = N - 1 lists every other sample once", () => {
    const all = rows(randomBags(4, { k: 3, seed: 1 }).neighbours, 3)
    all.forEach((row, i) => expect([...row].sort()).toEqual([0, 1, 2, 3].filter((j) => j !== i)))
  })

  it("refuses K >= N (a bag of distinct others cannot be drawn)", () => {
    expect(() => randomBags(3, { k: 3 })).toThrow(RangeError)
  })
})

layer(BagMiner.layer({ method: "random", k: 2, seed: 5 }).pipe(Layer.provide(Runtime.layerTest)))("BagMiner.layer (random)", (it) => {
  it.effect("mines seeded random bags from the number of rows; the features' values are not read", () =>
    Effect.gen(function* () {
      const miner = yield* BagMiner
      const fromFeatures = yield* miner.mine({ features: Float32Array.from([NaN, 0, 1, 1, 2, 2, 3, 3]), dim: 2 })
      expect(fromFeatures).toEqual(randomBags(4, { k: 2, seed: 5 }))
      // like label bags: no features, N from the labels
      const fromLabels = yield* miner.mine({ features: new Float32Array(0), dim: 2, labels: Int32Array.from([0, 1, 0, 1]) })
      expect(fromLabels).toEqual(fromFeatures)
    })
  )

  it.effect("fails with InvalidMinerInput for K >= N", () =>
    Effect.gen(function* () {
      const miner = yield* BagMiner
      const error = yield* Effect.flip(miner.mine({ features: new Float32Array(4), dim: 2 }))
      expect(error).toEqual(new InvalidMinerInput({ method: "random", reason: "random bags need K < N, got K=2, N=2" }))
    })
  )
})
