import * as tf from "@tensorflow/tfjs"
import { describe, expect, it } from "vitest"
import { infoNce } from "../src/infoNce.ts"
import { multiPositiveInfoNce } from "../src/multiPositiveInfoNce.ts"
import { describeLossConformance, type Inputs, type LossConformance, lossValueOf } from "./conformance.ts"
import { makeRng, type Matrix, naiveRowCe, randomUnitRows, scalarOf, t2, useCpuBackend } from "./helpers.ts"

useCpuBackend()

/** Σ_i w_i mean_b CE(q_b, p_ib) / Σ_i w_i, by loops. */
const naive = (q: Matrix, positives: Array<Matrix>, queue: Matrix, temperature: number, weights: Array<number>) => {
  let total = 0
  positives.forEach((p, i) => {
    let ce = 0
    q.forEach((row, b) => (ce += naiveRowCe(row, p[b]!, queue, temperature)))
    total += (weights[i]! * ce) / q.length
  })
  return total / weights.reduce((a, b) => a + b, 0)
}

/** The query q, positives p0 … p{n−1} and the queue. */
type Input = "q" | "queue" | `p${number}`
interface Options {
  readonly temperature: number
  readonly positives: number
  readonly weights?: Array<number>
}

const positivesOf = <A>(x: Inputs<Input, A>, o: Options): Array<A> => Array.from({ length: o.positives }, (_, i) => x[`p${i}`])

// q = (1, 0); p0 = (0.6, 0.8), p1 = (0, 1); queue = {(-1, 0)}; T = 1
const hand = { q: [[1, 0]], p0: [[0.6, 0.8]], p1: [[0, 1]], queue: [[-1, 0]] }
const ce0 = -0.6 + Math.log(Math.exp(0.6) + Math.exp(-1))
const ce1 = -0 + Math.log(Math.exp(0) + Math.exp(-1))

const spec: LossConformance<Input, Options> = {
  name: "multiPositiveInfoNce",
  seed: 32,
  inputs: (o) => ({ q: "batch", ...Object.fromEntries(Array.from({ length: o.positives }, (_, i) => [`p${i}`, "batch"])), queue: "queue" }),
  compute: (x, o) => multiPositiveInfoNce(x.q, positivesOf(x, o), x.queue, o.temperature, o.weights),
  // equal weights by default
  naive: (x, o) => naive(x.q, positivesOf(x, o), x.queue, o.temperature, o.weights ?? Array(o.positives).fill(1)),
  hand: [
    {
      title: "matches a hand computation with weights 3 : 1",
      inputs: hand,
      options: { temperature: 1, positives: 2, weights: [3, 1] },
      expected: (3 * ce0 + 1 * ce1) / 4
    },
    {
      title: "matches a hand computation with equal weights by default",
      inputs: hand,
      options: { temperature: 1, positives: 2 },
      expected: (ce0 + ce1) / 2
    }
  ],
  random: { cases: [{ options: { temperature: 0.2, positives: 3, weights: [0.2, 1.3, 0.5] } }] },
  gradient: { options: { temperature: 0.5, positives: 2, weights: [2, 1] }, wrt: ["q"] },
  extreme: { sharp: { temperature: 1e-3, positives: 2 }, gradientWrt: ["q"] },
  leak: { values: [{ temperature: 0.2, positives: 2, weights: [0.7, 0.3] }], gradient: { temperature: 0.2, positives: 2 } }
}

describeLossConformance(spec)

describe("multiPositiveInfoNce", () => {
  it("reduces to infoNce with one positive, or when the other positives weigh 0", () => {
    const rng = makeRng(31)
    const [q, p0, p1, queue] = [randomUnitRows(rng, 4, 6), randomUnitRows(rng, 4, 6), randomUnitRows(rng, 4, 6), randomUnitRows(rng, 8, 6)]
    const single = scalarOf(() => infoNce(t2(q), t2(p0), t2(queue), 0.2))
    expect(lossValueOf(spec, { q, p0, queue }, { temperature: 0.2, positives: 1 })).toBeCloseTo(single, 6)
    expect(lossValueOf(spec, { q, p0, p1, queue }, { temperature: 0.2, positives: 2, weights: [1, 0] })).toBeCloseTo(single, 6)
  })

  it("rejects no positives, a weight count mismatch, negative or all-zero weights", () => {
    const [q, queue] = [t2([[1, 0]]), t2([[0, 1]])]
    expect(() => multiPositiveInfoNce(q, [], queue, 0.2)).toThrow(/at least one positive/)
    expect(() => multiPositiveInfoNce(q, [q], queue, 0.2, [1, 1])).toThrow(/1 positives but 2 weights/)
    expect(() => multiPositiveInfoNce(q, [q], queue, 0.2, [-1])).toThrow(/weights\[0\]/)
    expect(() => multiPositiveInfoNce(q, [q, q], queue, 0.2, [0, 0])).toThrow(/must not all be 0/)
    tf.dispose([q, queue])
  })
})
