import { infoNce } from "../src/infoNce.ts"
import { describeLossConformance, type LossConformance } from "./conformance.ts"
import { naiveInfoNce } from "./helpers.ts"

// row 0 logits / 0.5: (0.6, 0, -1) / 0.5;  row 1: (1, 1, 0) / 0.5
const row0 = -1.2 + Math.log(Math.exp(1.2) + Math.exp(0) + Math.exp(-2))
const row1 = -2 + Math.log(2 * Math.exp(2) + Math.exp(0))

const spec: LossConformance<"q" | "k" | "queue", { readonly temperature: number }> = {
  name: "infoNce",
  seed: 21,
  inputs: { q: "batch", k: "batch", queue: "queue" },
  compute: ({ k, q, queue }, o) => infoNce(q, k, queue, o.temperature),
  naive: ({ k, q, queue }, o) => naiveInfoNce(q, k, queue, o.temperature),
  hand: [
    {
      title: "matches a hand computation (mean over the batch)",
      inputs: {
        q: [
          [1, 0],
          [0, 1]
        ],
        k: [
          [0.6, 0.8],
          [0, 1]
        ],
        queue: [
          [0, 1],
          [-1, 0]
        ]
      },
      options: { temperature: 0.5 },
      expected: (row0 + row1) / 2
    },
    {
      title: "is log(1 + Q) when every logit is equal",
      // q orthogonal to k and to all Q = 3 queue entries: logits all 0
      inputs: {
        q: [[1, 0, 0]],
        k: [[0, 1, 0]],
        queue: [
          [0, 0, 1],
          [0, -1, 0],
          [0, 0, -1]
        ]
      },
      options: { temperature: 0.2 },
      expected: Math.log(4)
    }
  ],
  random: { cases: [{ options: { temperature: 0.2 } }] },
  gradient: { options: { temperature: 0.5 }, wrt: ["q"] },
  extreme: { title: " (T = 1e-3, and unscaled inputs)", sharp: { temperature: 1e-3 }, unscaled: { temperature: 1 }, gradientWrt: ["q"] },
  leak: { values: [{ temperature: 0.2 }], gradient: { temperature: 0.2 } }
}

describeLossConformance(spec)
