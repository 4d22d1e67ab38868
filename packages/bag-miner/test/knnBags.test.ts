import * as tf from "@tensorflow/tfjs"
import { beforeAll, describe, expect, it } from "vitest"
import { knnBags, knnBagsSteps } from "../src/knnBags.ts"
import { circle, naiveKnn, randomFeatures, rows, useCpu } from "./helpers.ts"

beforeAll(useCpu)

describe("knnBags", () => {
  it("finds the hand-placed nearest neighbours on a circle, whatever each vector's norm", () => {
    // angles 0, 10, 30, 100, 180, 185 degrees; norms differ so only the direction counts
    const features = circle([0, 10, 30, 100, 180, 185], [1, 3, 0.5, 2, 7, 1])
    const bags = knnBags(features, 2, { k: 2 })
    expect(bags.n).toBe(6)
    expect(bags.k).toBe(2)
    expect(rows(bags.neighbours, 2)).toEqual([
      [1, 2], // 0 deg: 10 deg away, 30 deg away
      [0, 2], // 10: 10, 20
      [1, 0], // 30: 20, 30
      [2, 4], // 100: 70 (30 deg), 80 (180 deg); 85 (185) and 90 (10) further
      [5, 3], // 180: 5, 80
      [4, 3] // 185: 5, 85
    ])
  })

  it("breaks exact ties by the lower index", () => {
    // (1,0) (0,1) (0,-1) (-1,0): every dot product is exactly 0 or -1
    const features = Float32Array.from([1, 0, 0, 1, 0, -1, -1, 0])
    expect(rows(knnBags(features, 2, { k: 2 }).neighbours, 2)).toEqual([
      [1, 2],
      [0, 3],
      [0, 3],
      [1, 2]
    ])
  })

  it("excludes the anchor even among exact duplicates", () => {
    // four copies of (1,0) then (0,1): anchor 3's top-3 is {0,1,2} and does not contain 3
    const features = Float32Array.from([1, 0, 1, 0, 1, 0, 1, 0, 0, 1])
    expect(rows(knnBags(features, 2, { k: 2 }).neighbours, 2)).toEqual([
      [1, 2],
      [0, 2],
      [0, 1],
      [0, 1],
      [0, 1]
    ])
  })

  it("never lists an anchor in its own row", () => {
    const bags = knnBags(randomFeatures(50, 4, 9), 4, { k: 7 })
    for (let i = 0; i < 50; i++) expect(Array.from(bags.neighbours.subarray(i * 7, i * 7 + 7))).not.toContain(i)
  })

  it("matches a naive float64 loop on random data", () => {
    const features = randomFeatures(120, 16, 1)
    expect(Array.from(knnBags(features, 16, { k: 5 }).neighbours)).toEqual(Array.from(naiveKnn(features, 16, 5)))
  })

  it("gives identical results for every chunk size, including ones that split N unevenly", () => {
    const features = randomFeatures(37, 8, 2)
    const whole = Array.from(knnBags(features, 8, { k: 4, chunkSize: 1024 }).neighbours)
    for (const chunkSize of [1, 5, 16, 36, 37]) {
      expect(Array.from(knnBags(features, 8, { k: 4, chunkSize }).neighbours)).toEqual(whole)
    }
  })

  it("reports progress once per chunk", () => {
    const calls: Array<[number, number]> = []
    knnBags(randomFeatures(120, 4, 3), 4, { k: 3, chunkSize: 50, onProgress: (done, total) => calls.push([done, total]) })
    expect(calls).toEqual([
      [50, 120],
      [100, 120],
      [120, 120]
    ])
  })

  it("leaks no tensor, also when the steps are abandoned half way", () => {
    const features = randomFeatures(64, 8, 4)
    const before = tf.memory().numTensors
    knnBags(features, 8, { k: 5, chunkSize: 16 })
    expect(tf.memory().numTensors).toBe(before)
    const steps = knnBagsSteps(features, 8, { k: 5, chunkSize: 16 })
    expect(steps.next().value).toEqual({ stage: "knn", done: 16, total: 64 })
    expect(tf.memory().numTensors).toBeGreaterThan(before)
    steps.return(undefined as never)
    expect(tf.memory().numTensors).toBe(before)
  })

  it("rejects K >= N and a features length that is not a multiple of dim", () => {
    expect(() => knnBags(randomFeatures(4, 2, 5), 2, { k: 4 })).toThrow(/1 <= K < N/)
    expect(() => knnBags(new Float32Array(7), 2, { k: 1 })).toThrow(/multiple of dim/)
  })
})
