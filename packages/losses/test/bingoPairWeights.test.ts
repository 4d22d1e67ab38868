import { describe, expect, it } from "vitest"
import { bingoPairWeights } from "../src/bingoPairWeights.ts"

const reference = { warmupEpochs: 11, selfWeight: 0.5, crossWeight: 0.5 }

describe("bingoPairWeights", () => {
  it("is (1, 0) for epochs 0..10 and (0.5, 0.5) from epoch 11, as the reference's `epoch > 10`", () => {
    expect(bingoPairWeights(0, reference)).toEqual({ self: 1, cross: 0 })
    expect(bingoPairWeights(10, reference)).toEqual({ self: 1, cross: 0 })
    expect(bingoPairWeights(11, reference)).toEqual({ self: 0.5, cross: 0.5 })
    expect(bingoPairWeights(199, reference)).toEqual({ self: 0.5, cross: 0.5 })
  })

  it("has no warm-up when warmupEpochs is 0 and uses the given weights after it", () => {
    expect(bingoPairWeights(0, { ...reference, warmupEpochs: 0 })).toEqual({ self: 0.5, cross: 0.5 })
    expect(bingoPairWeights(3, { warmupEpochs: 3, selfWeight: 0.7, crossWeight: 0.3 })).toEqual({ self: 0.7, cross: 0.3 })
  })
})
