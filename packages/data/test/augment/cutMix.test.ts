import { Rng } from "@bingo/runtime"
import { describe, expect, it } from "vitest"
import { cutMix } from "../../src/augment/cutMix.ts"

const filled = (n: number, v: number) => new Float32Array(n).fill(v)

describe("cutMix", () => {
  it("lambda is the exact fraction of pixels still from q, the box holds pq, one box for the batch", () => {
    const dims = { batch: 3, height: 9, width: 7, channels: 2 }
    const n = 3 * 9 * 7 * 2
    const rng = Rng.fromSeed(0)
    let sawPartial = false
    for (let t = 0; t < 200; t++) {
      const { mixed, lambda, box } = cutMix(filled(n, 1), filled(n, 2), dims, rng)
      let wrongSource = 0
      for (let b = 0; b < 3; b++) {
        let fromQ = 0
        for (let y = 0; y < 9; y++) {
          for (let x = 0; x < 7; x++) {
            const inBox = y >= box.y0 && y < box.y1 && x >= box.x0 && x < box.x1
            for (let c = 0; c < 2; c++) {
              const v = mixed[((b * 9 + y) * 7 + x) * 2 + c]
              if (v !== (inBox ? 2 : 1)) wrongSource++
              if (v === 1 && c === 0) fromQ++
            }
          }
        }
        expect(lambda).toBeCloseTo(fromQ / 63, 12)
      }
      expect(wrongSource).toBe(0)
      if (lambda > 0 && lambda < 1) sawPartial = true
    }
    expect(sawPartial).toBe(true)
  })

  it("leaves its inputs untouched", () => {
    const q = filled(16, 1)
    const pq = filled(16, 2)
    cutMix(q, pq, { batch: 1, height: 4, width: 4, channels: 1 }, Rng.fromSeed(1))
    expect(q.every((v) => v === 1) && pq.every((v) => v === 2)).toBe(true)
  })

  it("as in the reference (box clipped to the image), mean lambda is 1 - E[clipped area] = 0.672", () => {
    // Box side t = sqrt(r) of the side, r ~ Beta(2,2), centre uniform: the clipped side is on
    // average t - t^2/4, so E[area] = E[r] - E[r^1.5]/2 + E[r^2]/16 = 0.5 - 0.1905 + 0.0188.
    // (128 px: whole-pixel boxes add about +0.005)
    const dims = { batch: 1, height: 128, width: 128, channels: 1 }
    const q = filled(128 * 128, 0)
    const rng = Rng.fromSeed(2)
    let sum = 0
    const draws = 2000
    for (let t = 0; t < draws; t++) sum += cutMix(q, q, dims, rng).lambda
    expect(Math.abs(sum / draws - 0.672)).toBeLessThan(0.015)
  })

  it("with keepInside the box area ratio is Beta(2,2): mean lambda 0.5", () => {
    const dims = { batch: 1, height: 128, width: 128, channels: 1 }
    const q = filled(128 * 128, 0)
    const rng = Rng.fromSeed(3)
    let sum = 0
    let sumSq = 0
    const draws = 2000
    for (let t = 0; t < draws; t++) {
      const { lambda, box } = cutMix(q, q, dims, rng, { keepInside: true })
      expect(box.y0).toBeGreaterThanOrEqual(0)
      expect(box.y1).toBeLessThanOrEqual(128)
      sum += lambda
      sumSq += lambda * lambda
    }
    const mean = sum / draws
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.015)
    // Beta(2,2) variance 0.05
    expect(sumSq / draws - mean * mean).toBeCloseTo(0.05, 2)
  })

  it("is deterministic for a seed and rejects mismatched buffers", () => {
    const dims = { batch: 2, height: 8, width: 8, channels: 1 }
    const q = Float32Array.from({ length: 128 }, (_, i) => i)
    const pq = Float32Array.from({ length: 128 }, (_, i) => -i)
    const a = cutMix(q, pq, dims, Rng.fromSeed(4))
    const b = cutMix(q, pq, dims, Rng.fromSeed(4))
    expect(b).toEqual(a)
    expect(() => cutMix(q, pq.subarray(1), dims, Rng.fromSeed(4))).toThrow(RangeError)
  })
})
