import { describe, expect, it } from "vitest"
import { recallAtK, sampleRows } from "../src/recallAtK.ts"

describe("recallAtK", () => {
  it("counts the exact neighbours the approximate lists hold, in any order", () => {
    // row 0: 2 of 3 found; row 1: 3 of 3 (other order); row 2: 0 of 3 -> 5 / 9
    const approx = Int32Array.from([1, 2, 9, 5, 4, 3, 7, 7, 7])
    const exact = Int32Array.from([2, 1, 3, 3, 4, 5, 0, 1, 2])
    expect(recallAtK(approx, exact, 3)).toBeCloseTo(5 / 9, 12)
    expect(recallAtK(exact, exact, 3)).toBe(1)
  })
})

describe("sampleRows", () => {
  it("draws distinct rows, ascending, the same for a seed, all rows when asked for more", () => {
    const a = sampleRows(1000, 50, 7)
    expect(a.length).toBe(50)
    expect(new Set(a).size).toBe(50)
    expect(Array.from(a)).toEqual(Array.from(a).sort((x, y) => x - y))
    expect(Array.from(a).every((x) => x >= 0 && x < 1000)).toBe(true)
    expect(Array.from(sampleRows(1000, 50, 7))).toEqual(Array.from(a))
    expect(Array.from(sampleRows(1000, 50, 8))).not.toEqual(Array.from(a))
    expect(Array.from(sampleRows(4, 10, 0))).toEqual([0, 1, 2, 3])
  })

  it("draws every row equally often over many seeds", () => {
    const counts = new Array<number>(10).fill(0)
    for (let seed = 0; seed < 2000; seed++) for (const r of sampleRows(10, 3, seed)) counts[r]!++
    // expected 600 each; binomial sd ~ 20
    for (const c of counts) expect(Math.abs(c - 600)).toBeLessThan(100)
  })
})
