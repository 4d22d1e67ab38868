import { Rng } from "@bingo/runtime"
import { describe, expect, it } from "vitest"
import { bagPurity } from "../src/bagPurity.ts"
import { groupBags } from "../src/groupBags.ts"
import { labelBags } from "../src/labelBags.ts"
import { rows } from "./helpers.ts"

describe("labelBags", () => {
  // class 0: 7 samples (6 others >= K), class 1: 3 samples (2 others < K), class 2: alone
  const labels = Int32Array.from([0, 1, 0, 0, 2, 0, 1, 0, 0, 1, 0])
  const bags = labelBags(labels, { k: 3, seed: 4 })
  const bagRows = rows(bags.neighbours, 3)

  it("is 100% pure, isolated rows aside", () => {
    const purity = bagPurity(bags, labels)
    expect(purity.overall).toBe(1)
    expect(purity.perClass.map((c) => c.purity)).toEqual([1, 1, NaN])
    expect(purity.selfEntries).toBe(3)
  })

  it("draws K distinct others when the class has enough, never the anchor", () => {
    for (const i of [0, 2, 3, 5, 7, 8, 10]) {
      expect(new Set(bagRows[i]).size).toBe(3)
      expect(bagRows[i]).not.toContain(i)
    }
  })

  it("lists every other member of a small class, then repeats them", () => {
    for (const i of [1, 6, 9]) {
      const others = [1, 6, 9].filter((j) => j !== i)
      expect(bagRows[i]!.slice(0, 2)).toEqual(others)
      expect(others).toContain(bagRows[i]![2])
    }
  })

  it("gives a class of one an isolated row (the anchor repeated)", () => {
    expect(bagRows[4]).toEqual([4, 4, 4])
  })

  it("is deterministic for a seed and changes with it", () => {
    expect(Array.from(labelBags(labels, { k: 3, seed: 4 }).neighbours)).toEqual(Array.from(bags.neighbours))
    expect(Array.from(labelBags(labels, { k: 3, seed: 5 }).neighbours)).not.toEqual(Array.from(bags.neighbours))
  })

  it("accepts any integer labels, not only 0..C-1", () => {
    const sparse = labelBags(Int32Array.from([-1, 100, -1, 100, 7, 7]), { k: 1 })
    expect(rows(sparse.neighbours, 1)).toEqual([[2], [3], [0], [1], [5], [4]])
  })
})

describe("groupBags", () => {
  it("draws the others of a group uniformly without replacement", () => {
    // anchor 0 in a group of 10 with K = 3: each other member is in its row w.p. 3/9
    const groups = new Int32Array(10)
    const hits = new Array<number>(10).fill(0)
    const rng = Rng.fromSeed(0)
    const trials = 3000
    for (let t = 0; t < trials; t++) {
      const row = groupBags(groups, 3, rng).neighbours.subarray(0, 3)
      expect(new Set(row).size).toBe(3)
      for (const j of row) hits[j]!++
    }
    expect(hits[0]).toBe(0)
    for (let j = 1; j < 10; j++) expect(Math.abs(hits[j]! / trials - 1 / 3)).toBeLessThan(0.04)
  })
})
