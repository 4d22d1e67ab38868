import { describe, expect, it } from "vitest"
import { compressLoss } from "../src/compressLoss.ts"
import { describeLossConformance, type LossConformance, lossValueOf } from "./conformance.ts"
import { dot, logSoftmax, makeRng, type Matrix, randomUnitRows, useCpuBackend } from "./helpers.ts"

useCpuBackend()

/** mean_b Σ_j p_t(j) (log p_t(j) − log p_s(j)) over the queue, by loops. */
const naive = (s: Matrix, t: Matrix, queue: Matrix, T: number): number => {
  let total = 0
  s.forEach((sb, b) => {
    const logPs = logSoftmax(queue.map((n) => dot(sb, n) / T))
    const logPt = logSoftmax(queue.map((n) => dot(t[b]!, n) / T))
    for (let j = 0; j < queue.length; j++) total += Math.exp(logPt[j]!) * (logPt[j]! - logPs[j]!)
  })
  return total / s.length
}

// s = (1, 0), t = (0.6, 0.8), queue {(0, 1), (1, 0)}, T = 1
// student logits (0, 1); teacher logits (0.8, 0.6)
const z = Math.log(Math.exp(0) + Math.exp(1))
const [logPs0, logPs1] = [0 - z, 1 - z]
const w = Math.log(Math.exp(0.8) + Math.exp(0.6))
const [logPt0, logPt1] = [0.8 - w, 0.6 - w]

const spec: LossConformance<"s" | "t" | "queue", { readonly temperature?: number }> = {
  name: "compressLoss",
  seed: 72,
  inputs: { s: "batch", t: "batch", queue: "queue" },
  compute: ({ queue, s, t }, o) => compressLoss(s, t, queue, o.temperature),
  // the default temperature is 0.04
  naive: ({ queue, s, t }, o) => naive(s, t, queue, o.temperature ?? 0.04),
  hand: [
    {
      title: "matches a hand computation",
      inputs: {
        s: [[1, 0]],
        t: [[0.6, 0.8]],
        queue: [
          [0, 1],
          [1, 0]
        ]
      },
      options: { temperature: 1 },
      expected: Math.exp(logPt0) * (logPt0 - logPs0) + Math.exp(logPt1) * (logPt1 - logPs1)
    }
  ],
  random: {
    cases: [
      // T = 0.04 puts logits near ±25, so compare relative to the loss's size
      { options: {}, abs: 1e-5, rel: 1e-6 },
      { options: { temperature: 0.2 } }
    ]
  },
  gradient: { options: { temperature: 0.5 }, wrt: ["s"] },
  extreme: { title: " (a teacher probability that underflows counts 0)", sharp: { temperature: 1e-3 }, gradientWrt: ["s", "t"] },
  leak: { values: [{}], gradient: {} }
}

describeLossConformance(spec)

describe("compressLoss", () => {
  it("is 0 when student and teacher agree and positive otherwise", () => {
    const rng = makeRng(71)
    const [s, t, queue] = [randomUnitRows(rng, 4, 8), randomUnitRows(rng, 4, 8), randomUnitRows(rng, 16, 8)]
    expect(Math.abs(lossValueOf(spec, { s: t, t, queue }, {}))).toBeLessThan(1e-5)
    expect(lossValueOf(spec, { s, t, queue }, {})).toBeGreaterThan(0.1)
  })
})
