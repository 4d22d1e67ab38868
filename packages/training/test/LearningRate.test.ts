import { describe, expect, it } from "vitest"
import { peakLr, scheduledLr } from "../src/LearningRate.ts"

describe("scheduledLr", () => {
  const s = { lr: 0.03, lrScaling: "per-256" as const, warmupEpochs: 0, epochs: 10, batchSize: 128 }

  it("scales a per-256 lr by the batch size (linear scaling rule) and leaves an absolute one alone", () => {
    expect(peakLr(s)).toBeCloseTo(0.015, 12)
    expect(peakLr({ ...s, batchSize: 512 })).toBeCloseTo(0.06, 12)
    expect(peakLr({ ...s, lrScaling: "none" })).toBe(0.03)
  })

  it("without warm-up is the reference per-epoch cosine, constant within an epoch", () => {
    for (const epoch of [0, 3, 9]) {
      const expected = 0.015 * 0.5 * (1 + Math.cos((Math.PI * epoch) / 10))
      expect(scheduledLr(s, epoch, 0, 50)).toBeCloseTo(expected, 12)
      expect(scheduledLr(s, epoch, 49, 50)).toBeCloseTo(expected, 12)
    }
  })

  it("ramps linearly per step over the warm-up, reaching the cosine value at its end", () => {
    const w = { ...s, warmupEpochs: 2 }
    // step 0 of epoch 0: 1/50 of an epoch done, of a 2-epoch warm-up
    expect(scheduledLr(w, 0, 0, 50)).toBeCloseTo(0.015 * (1 / 50 / 2), 12)
    expect(scheduledLr(w, 0, 49, 50)).toBeCloseTo(0.015 * 0.5, 12)
    const cos1 = 0.5 * (1 + Math.cos(Math.PI / 10))
    expect(scheduledLr(w, 1, 24, 50)).toBeCloseTo(0.015 * cos1 * (1.5 / 2), 12)
    expect(scheduledLr(w, 1, 49, 50)).toBeCloseTo(0.015 * cos1, 12)
    expect(scheduledLr(w, 2, 0, 50)).toBeCloseTo(scheduledLr(s, 2, 0, 50), 12)
  })
})
