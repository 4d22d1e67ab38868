import * as tf from "@tensorflow/tfjs"
import { describe, expect, it } from "vitest"
import { contrastiveCrossEntropy } from "../src/contrastiveCrossEntropy.ts"
import { describeLossConformance, type LossConformance } from "./conformance.ts"
import { naiveRowCe, t2, useCpuBackend } from "./helpers.ts"

useCpuBackend()

const spec: LossConformance<"s" | "t" | "queue", { readonly temperature: number }> = {
  name: "contrastiveCrossEntropy",
  seed: 11,
  inputs: { s: "batch", t: "batch", queue: "queue" },
  compute: ({ queue, s, t }, o) => contrastiveCrossEntropy(s, t, queue, o.temperature),
  naive: ({ queue, s, t }, o) => s.map((row, b) => naiveRowCe(row, t[b]!, queue, o.temperature)),
  hand: [
    {
      title: "matches a hand computation, one value per row",
      // row 0: s·t = 0.6, s·n = (0, -1); logits / 0.5 = (1.2, 0, -2)
      // row 1: s·t = 1,   s·n = (1, 0);  logits / 0.5 = (2, 2, 0)
      inputs: {
        s: [
          [1, 0],
          [0, 1]
        ],
        t: [
          [0.6, 0.8],
          [0, 1]
        ],
        queue: [
          [0, 1],
          [-1, 0]
        ]
      },
      options: { temperature: 0.5 },
      expected: [-1.2 + Math.log(Math.exp(1.2) + Math.exp(0) + Math.exp(-2)), -2 + Math.log(2 * Math.exp(2) + Math.exp(0))],
      abs: 1e-6
    },
    {
      title: "is log(1 + Q·e^(-1/T)) when s = t and the queue is orthogonal to s",
      inputs: {
        s: [[1, 0, 0]],
        t: [[1, 0, 0]],
        queue: [
          [0, 1, 0],
          [0, 0, 1],
          [0, -1, 0]
        ]
      },
      options: { temperature: 0.2 },
      expected: [Math.log(1 + 3 * Math.exp(-1 / 0.2))],
      abs: 1e-7
    }
  ],
  random: { batch: 5, cases: [{ options: { temperature: 0.2 } }] },
  // one value per row: the gradient is that of their sum
  gradient: { options: { temperature: 0.5 }, wrt: ["s"] },
  extreme: { sharp: { temperature: 1e-3 }, gradientWrt: ["s"] },
  leak: { values: [{ temperature: 0.2 }], gradient: { temperature: 0.2 } }
}

describeLossConformance(spec)

describe("contrastiveCrossEntropy", () => {
  it("rejects mismatched shapes and a non-positive temperature", () => {
    const [s, t3, q] = [t2([[1, 0]]), t2([[1, 0, 0]]), t2([[1, 0]])]
    expect(() => contrastiveCrossEntropy(s, t3, q, 0.2)).toThrow(/'t' has shape \[1, 3\]/)
    expect(() => contrastiveCrossEntropy(s, s, t3, 0.2)).toThrow(/'queue' has width 3/)
    expect(() => contrastiveCrossEntropy(s, s, q, 0)).toThrow(/temperature/)
    tf.dispose([s, t3, q])
  })
})
