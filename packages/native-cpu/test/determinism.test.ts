import { afterEach, describe, expect, it } from "vitest"
import { loadNativeAddon, type NativeAddon } from "../src/loadAddon.ts"

const loaded = loadNativeAddon()
const addon: NativeAddon | undefined = "addon" in loaded ? loaded.addon : undefined

/**
 * Columns whose sums cancel: in each column, values of about 1e6 each appear once with each sign,
 * and between them values of about 1e-3, so the exact sum is that of the small values alone. A
 * double accumulator already holding ~1e8 rounds each small value it adds, and how depends on
 * what it holds: summed in another order (other rows per thread), the float result differs in
 * its last bits. This is the input on which a load-dependent reduction shows.
 */
const cancelling = (rows: number, cols: number, seed: number): Float32Array => {
  let s = (seed * 2654435761) >>> 0
  const next = (): number => {
    s = (s * 1664525 + 1013904223) >>> 0
    return s / 2 ** 31 - 1
  }
  const v = new Float32Array(rows * cols)
  const q = rows / 4
  for (let c = 0; c < cols; c++) {
    for (let k = 0; k < q; k++) {
      const big = Math.fround(next() * 1e6)
      v[2 * k * cols + c] = big // rows 0, 2, 4, ...: +big
      v[(2 * q + k) * cols + c] = -big // rows [2q, 3q): -big
      v[(2 * k + 1) * cols + c] = next() * 1e-3 // rows 1, 3, 5, ... and [3q, 4q): small
      v[(3 * q + k) * cols + c] = next() * 1e-3
    }
  }
  return v
}

/** `f` run with 1 thread, then 2 threads five times: copies of its outputs. */
const underThreadCounts = (a: NativeAddon, f: () => ReadonlyArray<Float32Array>): Array<Array<Float32Array>> =>
  [1, 2, 2, 2, 2, 2].map((n) => {
    a.setThreads(n)
    return f().map((out) => Float32Array.from(out))
  })

/** Every run's outputs bit for bit those of the first; where not, the first differing element. */
const expectSameBits = (runs: Array<Array<Float32Array>>): void => {
  const first = runs[0]!
  runs.slice(1).forEach((run, k) =>
    run.forEach((out, j) => {
      const a = new Uint32Array(first[j]!.buffer),
        b = new Uint32Array(out.buffer)
      const i = a.findIndex((bits, i) => bits !== b[i])
      expect(i === -1 ? "same bits" : `run ${k + 1}, output ${j}, element ${i}: ${first[j]![i]} vs ${out[i]}`).toBe("same bits")
    })
  )
}

describe.skipIf(addon === undefined)("native reductions give the same bits on any thread count (so a run does not depend on load)", () => {
  const threads = addon?.info().threads ?? 1
  afterEach(() => {
    addon?.setThreads(threads)
  })
  // 2^19 rows x 8 channels: far above the element count (2^18) where the loops go parallel, so
  // that both threads take part (under the old per-thread sums, these tests failed on most runs)
  const rows = 1 << 19
  const cols = 8

  it("Sum over the leading axis ([rows, 8] -> [8]), and it matches a float64 sum in row order", () => {
    const a = addon!
    const x = cancelling(rows, cols, 1)
    const runs = underThreadCounts(a, () => [a.reduce(0, x, 1, rows, cols)])
    expectSameBits(runs)
    const reference = Array.from({ length: cols }, (_, c) => {
      let s = 0
      for (let r = 0; r < rows; r++) s += x[r * cols + c]!
      return s
    })
    // both round the small values against partial sums of ~1e8 (steps of ~1e-8, 2^15 of them)
    runs[0]![0]!.forEach((v, c) => expect(Math.abs(v - reference[c]!)).toBeLessThan(1e-4))
  })

  it("batch-norm training statistics (mean, variance) and the whole forward output", () => {
    const a = addon!
    const x = cancelling(rows, cols, 2)
    const gamma = new Float32Array(cols).fill(1.5)
    const beta = new Float32Array(cols).fill(-0.25)
    const runs = underThreadCounts(a, () => a.batchNormTrain(x, gamma, beta, rows, cols, 1e-5))
    expectSameBits(runs)
  })

  it("batch-norm gradients (dx, dgamma, dbeta), whose sums over rows cancel", () => {
    const a = addon!
    const x = cancelling(rows, cols, 3).map((v) => v * 1e-6)
    const dy = cancelling(rows, cols, 4)
    const gamma = new Float32Array(cols).fill(0.5)
    a.setThreads(1)
    const [, mean, , invStd] = a.batchNormTrain(x, gamma, new Float32Array(cols), rows, cols, 1e-5)
    const runs = underThreadCounts(a, () => a.batchNormGrad(dy, x, gamma, mean, invStd, rows, cols))
    expectSameBits(runs)
  })
})
