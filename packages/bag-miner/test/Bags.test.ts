import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { bagOf, isIsolated, makeBags, validateBags } from "../src/Bags.ts"
import { BagIndexOutOfRange, BagSelfNeighbour, BagShapeMismatch } from "../src/BagMinerError.ts"

describe("Bags", () => {
  const bags = makeBags(3, 2, Int32Array.from([1, 2, 0, 2, 0, 1]))

  it("bagOf is a view of one row", () => {
    expect(Array.from(bagOf(bags, 1))).toEqual([0, 2])
    expect(bagOf(bags, 2).buffer).toBe(bags.neighbours.buffer)
    expect(() => bagOf(bags, 3)).toThrow(RangeError)
  })

  it("makeBags refuses a matrix that is not n x k", () => {
    expect(() => makeBags(3, 2, new Int32Array(5))).toThrow(/need 6 indices, got 5/)
  })

  it.effect("accepts valid bags and isolated rows", () =>
    Effect.gen(function* () {
      expect(yield* validateBags(bags, 3)).toBe(bags)
      const isolated = makeBags(3, 2, Int32Array.from([1, 2, 0, 2, 2, 2]))
      expect(isIsolated(isolated, 2)).toBe(true)
      expect(isIsolated(isolated, 0)).toBe(false)
      expect(yield* validateBags(isolated, 3)).toBe(isolated)
    })
  )

  it.effect("fails with BagShapeMismatch when N differs from the dataset", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(validateBags(bags, 4, { path: "/x/bags.npy" }))
      expect(error).toEqual(new BagShapeMismatch({ path: "/x/bags.npy", expectedN: 4, actualN: 3 }))
      expect(error.message).toBe("/x/bags.npy: bag matrix has 3 rows but the dataset has 4 samples")
    })
  )

  it.effect("fails with BagIndexOutOfRange on a negative or too large index", () =>
    Effect.gen(function* () {
      const high = makeBags(3, 2, Int32Array.from([1, 2, 0, 3, 0, 1]))
      expect(yield* Effect.flip(validateBags(high, 3))).toEqual(new BagIndexOutOfRange({ row: 1, index: 3, n: 3 }))
      const negative = makeBags(3, 2, Int32Array.from([1, 2, 0, 2, -1, 1]))
      expect(yield* Effect.flip(validateBags(negative, 3))).toEqual(new BagIndexOutOfRange({ row: 2, index: -1, n: 3 }))
    })
  )

  it.effect("fails with BagSelfNeighbour when a row mixes its anchor with others, unless allowed", () =>
    Effect.gen(function* () {
      const self = makeBags(3, 2, Int32Array.from([1, 2, 1, 2, 0, 1]))
      expect(yield* Effect.flip(validateBags(self, 3))).toEqual(new BagSelfNeighbour({ row: 1 }))
      expect(yield* validateBags(self, 3, { allowSelf: true })).toBe(self)
    })
  )
})
