import * as tf from "@tensorflow/tfjs"
import { beforeAll, describe, expect, it } from "vitest"
import { bagPurity } from "../src/bagPurity.ts"
import { kmeansBags } from "../src/kmeansBags.ts"
import { blobs, useCpu } from "./helpers.ts"

beforeAll(useCpu)

describe("kmeansBags", () => {
  it("keeps every bag inside its blob, self excluded, on well-separated blobs", () => {
    const { features, labels } = blobs([30, 25, 20, 4], 8, 0.1, 5)
    const before = tf.memory().numTensors
    const bags = kmeansBags(features, 8, { k: 5, clusters: 4, seed: 2 })
    expect(tf.memory().numTensors).toBe(before)
    expect(bags.n).toBe(79)
    expect(bags.k).toBe(5)
    expect(bagPurity(bags, labels).overall).toBe(1)
    for (let i = 0; i < bags.n; i++) expect(Array.from(bags.neighbours.subarray(i * 5, i * 5 + 5))).not.toContain(i)
    // the 4-member blob (rows 75..78) has 3 others for K = 5: all three appear, then repeats
    for (let i = 75; i < 79; i++) {
      const row = Array.from(bags.neighbours.subarray(i * 5, i * 5 + 5))
      expect(new Set(row)).toEqual(new Set([75, 76, 77, 78].filter((j) => j !== i)))
    }
  })

  it("is deterministic for a seed and changes with it", () => {
    const { features } = blobs([20, 20], 4, 0.1, 6)
    const a = kmeansBags(features, 4, { k: 3, clusters: 2, seed: 1 })
    const b = kmeansBags(features, 4, { k: 3, clusters: 2, seed: 1 })
    const c = kmeansBags(features, 4, { k: 3, clusters: 2, seed: 2 })
    expect(Array.from(a.neighbours)).toEqual(Array.from(b.neighbours))
    expect(Array.from(a.neighbours)).not.toEqual(Array.from(c.neighbours))
  })
})
