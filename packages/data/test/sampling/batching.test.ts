import { Rng } from "@bingo/runtime"
import { describe, expect, it } from "vitest"
import { samplePositives, shuffledBatches } from "../../src/sampling/batching.ts"

describe("shuffledBatches", () => {
  it("covers every index once per epoch, in random order", () => {
    const batches = shuffledBatches(10, 4, Rng.fromSeed(0))
    expect(batches.map((b) => b.length)).toEqual([4, 4, 2])
    const all = batches.flatMap((b) => Array.from(b))
    expect([...all].sort((a, b) => a - b)).toEqual([...Array(10).keys()])
    expect(all).not.toEqual([...Array(10).keys()])
  })

  it("drops the short last batch when asked", () => {
    const batches = shuffledBatches(10, 4, Rng.fromSeed(0), { dropLast: true })
    expect(batches.map((b) => b.length)).toEqual([4, 4])
    expect(shuffledBatches(8, 4, Rng.fromSeed(0), { dropLast: true }).length).toBe(2)
    expect(shuffledBatches(3, 4, Rng.fromSeed(0), { dropLast: true })).toEqual([])
  })

  it("is deterministic for a seed and differs across seeds and epochs", () => {
    const a = shuffledBatches(50, 8, Rng.fromSeed(1))
    expect(shuffledBatches(50, 8, Rng.fromSeed(1))).toEqual(a)
    expect(shuffledBatches(50, 8, Rng.fromSeed(2))).not.toEqual(a)
    const rng = Rng.fromSeed(1)
    expect(shuffledBatches(50, 8, rng)).not.toEqual(shuffledBatches(50, 8, rng))
  })

  it("rejects a non-positive batch size", () => {
    expect(() => shuffledBatches(10, 0, Rng.fromSeed(0))).toThrow(RangeError)
  })
})

describe("samplePositives", () => {
  // 4 anchors, bags of k = 3 (row a = the bag of anchor a)
  const k = 3
  const bags = Int32Array.from([0, 5, 9, 1, 7, 2, 2, 3, 8, 3, 0, 6])

  it("always returns a member of the anchor's bag", () => {
    const rng = Rng.fromSeed(0)
    for (let t = 0; t < 100; t++) {
      const anchors = [3, 0, 2, 1, 1]
      const pos = samplePositives(bags, k, anchors, rng)
      expect(pos.length).toBe(anchors.length)
      anchors.forEach((a, i) => expect(Array.from(bags.subarray(a * k, a * k + k))).toContain(pos[i]))
    }
  })

  it("draws each bag member about equally often", () => {
    const rng = Rng.fromSeed(1)
    const counts = new Map<number, number>()
    const anchors = new Int32Array(30000).fill(1)
    for (const p of samplePositives(bags, k, anchors, rng)) counts.set(p, (counts.get(p) ?? 0) + 1)
    expect([...counts.keys()].sort((a, b) => a - b)).toEqual([1, 2, 7])
    for (const c of counts.values()) expect(Math.abs(c / 30000 - 1 / 3)).toBeLessThan(0.015)
  })

  it("rejects an anchor outside the matrix or a length that is not n*k", () => {
    expect(() => samplePositives(bags, k, [4], Rng.fromSeed(0))).toThrow(/anchor 4 out of range/)
    expect(() => samplePositives(bags, 5, [0], Rng.fromSeed(0))).toThrow(RangeError)
  })
})
