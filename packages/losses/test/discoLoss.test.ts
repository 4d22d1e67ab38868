import { describe, expect, it } from "vitest"
import { discoLoss, type DiscoOptions } from "../src/discoLoss.ts"
import { mocoLoss } from "../src/mocoLoss.ts"
import { describeLossConformance, type LossConformance, lossValueOf } from "./conformance.ts"
import { makeRng, type Matrix, naiveInfoNce, randomUnitRows, scalarOf, t2, useCpuBackend } from "./helpers.ts"

useCpuBackend()

/** InfoNCE(s, k; queue) + weight · mean over all B·D entries of (s − t)², by loops. */
const naive = (s: Matrix, k: Matrix, queue: Matrix, t: Matrix, T: number, weight: number): number => {
  let se = 0
  s.forEach((row, b) => row.forEach((x, d) => (se += (x - t[b]![d]!) ** 2)))
  return naiveInfoNce(s, k, queue, T) + (weight * se) / (s.length * s[0]!.length)
}

const spec: LossConformance<"s" | "k" | "queue" | "t", Partial<DiscoOptions>> = {
  name: "discoLoss",
  seed: 82,
  inputs: { s: "batch", k: "batch", queue: "queue", t: "batch" },
  compute: ({ k, queue, s, t }, o) => discoLoss(s, k, queue, t, o),
  // the defaults are T = 0.2, weight 1
  naive: ({ k, queue, s, t }, o) => naive(s, k, queue, t, o.temperature ?? 0.2, o.weight ?? 1),
  hand: [
    {
      title: "matches a hand computation",
      // s = (1, 0), k = (0.6, 0.8), queue {(0, 1)}, t = (0, 1), T = 1, weight 2
      // InfoNCE logits (0.6, 0); MSE = ((1 − 0)² + (0 − 1)²) / 2 = 1
      inputs: { s: [[1, 0]], k: [[0.6, 0.8]], queue: [[0, 1]], t: [[0, 1]] },
      options: { temperature: 1, weight: 2 },
      expected: -0.6 + Math.log(Math.exp(0.6) + Math.exp(0)) + 2 * 1
    }
  ],
  random: { cases: [{ options: {} }, { options: { weight: 3.5 } }] },
  gradient: { options: { temperature: 0.5, weight: 2 }, wrt: ["s"] },
  extreme: { sharp: { temperature: 1e-3 }, gradientWrt: ["s"] },
  leak: { values: [{}], gradient: {} }
}

describeLossConformance(spec)

describe("discoLoss", () => {
  it("is the MoCo loss when weight is 0 or the student equals the teacher", () => {
    const rng = makeRng(81)
    const [s, k, queue, t] = [randomUnitRows(rng, 4, 8), randomUnitRows(rng, 4, 8), randomUnitRows(rng, 16, 8), randomUnitRows(rng, 4, 8)]
    const moco = scalarOf(() => mocoLoss(t2(s), t2(k), t2(queue)))
    expect(lossValueOf(spec, { s, k, queue, t }, { weight: 0 })).toBeCloseTo(moco, 6)
    expect(lossValueOf(spec, { s, k, queue, t: s }, {})).toBeCloseTo(moco, 6)
  })
})
