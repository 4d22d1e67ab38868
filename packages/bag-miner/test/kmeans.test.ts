import * as tf from "@tensorflow/tfjs"
import { beforeAll, describe, expect, it } from "vitest"
import { Rng } from "@bingo/runtime"
import { clusterSums, kmeans } from "../src/kmeans.ts"
import { blobs, useCpu } from "./helpers.ts"

beforeAll(useCpu)

describe("kmeans", () => {
  const { features, labels } = blobs([30, 25, 20, 15], 8, 0.1, 11)
  const dim = 8

  it("recovers well-separated blobs: one cluster per blob", () => {
    const result = kmeans(features, dim, { clusters: 4, seed: 1 })
    const clusterOfBlob = new Map<number, number>()
    for (let i = 0; i < labels.length; i++) {
      const known = clusterOfBlob.get(labels[i]!)
      if (known === undefined) clusterOfBlob.set(labels[i]!, result.assignments[i]!)
      else expect(result.assignments[i]).toBe(known)
    }
    expect(new Set(clusterOfBlob.values()).size).toBe(4)
    expect(Array.from(result.sizes).sort((a, b) => a - b)).toEqual([15, 20, 25, 30])
    expect(result.iterations).toBeLessThan(20) // converged early
  })

  it("returns unit-norm centroids near the blob directions", () => {
    const result = kmeans(features, dim, { clusters: 4, seed: 1 })
    for (let c = 0; c < 4; c++) {
      const row = Array.from(result.centroids.subarray(c * dim, (c + 1) * dim))
      expect(Math.hypot(...row)).toBeCloseTo(1, 5)
      expect(Math.max(...row)).toBeGreaterThan(0.95) // close to a basis vector
    }
  })

  it("is deterministic for a seed", () => {
    const a = kmeans(features, dim, { clusters: 6, seed: 3, iterations: 5 })
    const b = kmeans(features, dim, { clusters: 6, seed: 3, iterations: 5 })
    expect(Array.from(a.assignments)).toEqual(Array.from(b.assignments))
    expect(Array.from(a.centroids)).toEqual(Array.from(b.centroids))
  })

  it("reports k-means++ then Lloyd progress and leaks no tensor", () => {
    const before = tf.memory().numTensors
    const stages: Array<string> = []
    kmeans(features, dim, {
      clusters: 3,
      seed: 0,
      iterations: 2,
      onProgress: (stage, done, total) => stages.push(`${stage} ${done}/${total}`)
    })
    expect(stages).toEqual(["kmeans++ 1/3", "kmeans++ 2/3", "kmeans++ 3/3", "kmeans 1/2", "kmeans 2/2"])
    expect(tf.memory().numTensors).toBe(before)
  })

  it("rejects more clusters than samples", () => {
    expect(() => kmeans(new Float32Array(6), 2, { clusters: 4 })).toThrow(/clusters <= N/)
  })

  it("clusterSums adds each cluster's rows (hand values) and agrees with TF.js's unsortedSegmentSum on random rows", () => {
    const xs = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8])
    expect(Array.from(clusterSums(xs, 2, Int32Array.from([1, 0, 1, 1]), 3))).toEqual([3, 4, 13, 16, 0, 0])
    const rng = Rng.fromSeed(5)
    const n = 300
    const dim = 7
    const rows = Float32Array.from({ length: n * dim }, () => rng.normal())
    const ids = Int32Array.from({ length: n }, () => rng.int(9))
    const reference = tf.tidy(() => tf.unsortedSegmentSum(tf.tensor2d(rows, [n, dim]), tf.tensor1d(ids, "int32"), 9).dataSync())
    const sums = clusterSums(rows, dim, ids, 9)
    sums.forEach((v, i) => expect(v).toBeCloseTo(reference[i]!, 4))
  })
})
