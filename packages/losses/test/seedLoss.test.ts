import { describe, expect, it } from "vitest"
import { infoNce } from "../src/infoNce.ts"
import { seedLoss, type SeedOptions } from "../src/seedLoss.ts"
import { describeLossConformance, type LossConformance, lossValueOf } from "./conformance.ts"
import { dot, logSoftmax, makeRng, type Matrix, randomUnitRows, scalarOf, t2, useCpuBackend } from "./helpers.ts"

useCpuBackend()

/** mean_b −Σ_j p_t(j) log p_s(j) over the candidates [t_b ; queue], by loops. */
const naive = (s: Matrix, t: Matrix, queue: Matrix, Ts: number, Tt: number): number => {
  let total = 0
  s.forEach((sb, b) => {
    const candidates = [t[b]!, ...queue]
    const logPs = logSoftmax(candidates.map((d) => dot(sb, d) / Ts))
    const logPt = logSoftmax(candidates.map((d) => dot(t[b]!, d) / Tt))
    let row = 0
    for (let j = 0; j < candidates.length; j++) row -= Math.exp(logPt[j]!) * logPs[j]!
    total += row
  })
  return total / s.length
}

// s = (1, 0), t = (0.6, 0.8), queue {(0, 1)}; candidates [t ; n]
// student logits (s·t, s·n) / 1 = (0.6, 0); teacher logits (t·t, t·n) / 0.5 = (2, 1.6)
const logPs0 = 0.6 - Math.log(Math.exp(0.6) + Math.exp(0))
const logPs1 = 0 - Math.log(Math.exp(0.6) + Math.exp(0))
const pt0 = Math.exp(2) / (Math.exp(2) + Math.exp(1.6))
const pt1 = Math.exp(1.6) / (Math.exp(2) + Math.exp(1.6))

const spec: LossConformance<"s" | "t" | "queue", Partial<SeedOptions>> = {
  name: "seedLoss",
  seed: 62,
  inputs: { s: "batch", t: "batch", queue: "queue" },
  compute: ({ queue, s, t }, o) => seedLoss(s, t, queue, o),
  // the defaults are T_s = 0.2, T_t = 0.01
  naive: ({ queue, s, t }, o) => naive(s, t, queue, o.studentTemperature ?? 0.2, o.teacherTemperature ?? 0.01),
  hand: [
    {
      title: "matches a hand computation",
      inputs: { s: [[1, 0]], t: [[0.6, 0.8]], queue: [[0, 1]] },
      options: { studentTemperature: 1, teacherTemperature: 0.5 },
      expected: -(pt0 * logPs0 + pt1 * logPs1)
    }
  ],
  random: { cases: [{ options: {} }, { options: { teacherTemperature: 0.1 } }] },
  gradient: { options: { studentTemperature: 0.5, teacherTemperature: 0.1 }, wrt: ["s"] },
  extreme: {
    title: " (both temperatures 1e-3, and T_t = 1e-4 on unscaled inputs)",
    sharp: { studentTemperature: 1e-3, teacherTemperature: 1e-3 },
    unscaled: { studentTemperature: 1, teacherTemperature: 1e-4 },
    gradientWrt: ["s", "t"]
  },
  leak: { values: [{}], gradient: {} }
}

describeLossConformance(spec)

describe("seedLoss", () => {
  it("becomes InfoNCE against t_a when the teacher is one-hot on its own key (T_t → 0)", () => {
    // t·t = 1 exceeds every t·n, so at T_t = 1e-4 the teacher's distribution is one-hot on column 0
    const rng = makeRng(61)
    const [s, t, queue] = [randomUnitRows(rng, 4, 8), randomUnitRows(rng, 4, 8), randomUnitRows(rng, 16, 8)]
    const ce = scalarOf(() => infoNce(t2(s), t2(t), t2(queue), 0.2))
    expect(lossValueOf(spec, { s, t, queue }, { teacherTemperature: 1e-4 })).toBeCloseTo(ce, 5)
  })
})
