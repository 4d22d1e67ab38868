import { describe, expect, it } from "vitest"
import { bagPurity } from "../src/bagPurity.ts"
import { makeBags } from "../src/Bags.ts"

describe("bagPurity", () => {
  it("computes overall and per-class purity by hand, leaving self entries out", () => {
    const labels = Int32Array.from([0, 0, 1, 1, 1])
    const bags = makeBags(
      5,
      2,
      Int32Array.from([
        1,
        2, // anchor 0 (class 0): 1 same, 1 other
        0,
        3, // anchor 1 (class 0): 1 same, 1 other
        3,
        4, // anchor 2 (class 1): 2 same
        2,
        0, // anchor 3 (class 1): 1 same, 1 other
        4,
        4 // anchor 4 (class 1): isolated, not counted
      ])
    )
    const purity = bagPurity(bags, labels)
    expect(purity.overall).toBe((1 + 1 + 2 + 1) / 8)
    expect(purity.selfEntries).toBe(2)
    expect(purity.perClass).toEqual([
      { label: 0, anchors: 2, neighbours: 4, purity: 2 / 4 },
      { label: 1, anchors: 3, neighbours: 4, purity: 3 / 4 }
    ])
  })

  it("counts a repeated neighbour each time it is listed", () => {
    const purity = bagPurity(makeBags(3, 3, Int32Array.from([1, 1, 2, 0, 0, 0, 0, 1, 1])), Int32Array.from([5, 5, 6]))
    expect(purity.overall).toBe((2 + 3 + 0) / 9)
  })

  it("rejects labels of the wrong length", () => {
    expect(() => bagPurity(makeBags(2, 1, Int32Array.from([1, 0])), Int32Array.from([0]))).toThrow(/1 labels for 2 bags/)
  })
})
