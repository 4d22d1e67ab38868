import * as tf from "@tensorflow/tfjs"
import { describe, expect, it } from "vitest"
import { infoNce } from "../src/infoNce.ts"
import { multiPositiveInfoNce } from "../src/multiPositiveInfoNce.ts"
import {
  expectAllClose,
  expectFinite,
  expectNoLeak,
  finiteDifferenceGrad,
  grad2d,
  makeRng,
  type Matrix,
  naiveRowCe,
  randomUnitRows,
  scalarOf,
  t2,
  useCpuBackend
} from "./helpers.ts"

useCpuBackend()

const value = (q: Matrix, positives: Array<Matrix>, queue: Matrix, temperature: number, weights?: Array<number>) =>
  scalarOf(() => multiPositiveInfoNce(t2(q), positives.map(t2), t2(queue), temperature, weights))

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

describe("multiPositiveInfoNce", () => {
  it("matches a hand computation with weights 3 : 1", () => {
    // q = (1, 0); p1 = (0.6, 0.8), p2 = (0, 1); queue = {(-1, 0)}; T = 1
    const ce1 = -0.6 + Math.log(Math.exp(0.6) + Math.exp(-1))
    const ce2 = -0 + Math.log(Math.exp(0) + Math.exp(-1))
    expect(value([[1, 0]], [[[0.6, 0.8]], [[0, 1]]], [[-1, 0]], 1, [3, 1])).toBeCloseTo((3 * ce1 + 1 * ce2) / 4, 6)
    // equal weights by default
    expect(value([[1, 0]], [[[0.6, 0.8]], [[0, 1]]], [[-1, 0]], 1)).toBeCloseTo((ce1 + ce2) / 2, 6)
  })

  it("reduces to infoNce with one positive, or when the other positives weigh 0", () => {
    const rng = makeRng(31)
    const [q, p1, p2, queue] = [randomUnitRows(rng, 4, 6), randomUnitRows(rng, 4, 6), randomUnitRows(rng, 4, 6), randomUnitRows(rng, 8, 6)]
    const single = scalarOf(() => infoNce(t2(q), t2(p1), t2(queue), 0.2))
    expect(value(q, [p1], queue, 0.2)).toBeCloseTo(single, 6)
    expect(value(q, [p1, p2], queue, 0.2, [1, 0])).toBeCloseTo(single, 6)
  })

  it("agrees with a naive loop implementation on random inputs", () => {
    const rng = makeRng(32)
    const q = randomUnitRows(rng, 4, 8)
    const positives = [randomUnitRows(rng, 4, 8), randomUnitRows(rng, 4, 8), randomUnitRows(rng, 4, 8)]
    const queue = randomUnitRows(rng, 16, 8)
    const weights = [0.2, 1.3, 0.5]
    expectAllClose([value(q, positives, queue, 0.2, weights)], [naive(q, positives, queue, 0.2, weights)], 1e-5)
  })

  it("has the finite-difference gradient with respect to q", () => {
    const rng = makeRng(33)
    const q = randomUnitRows(rng, 2, 3)
    const positives = [randomUnitRows(rng, 2, 3), randomUnitRows(rng, 2, 3)]
    const queue = randomUnitRows(rng, 4, 3)
    const grad = tf.tidy(() =>
      grad2d((x: tf.Tensor2D) => multiPositiveInfoNce(x, positives.map(t2), t2(queue), 0.5, [2, 1]))(t2(q))
        .arraySync() as Matrix
    )
    expectFinite(grad)
    expectAllClose(grad, finiteDifferenceGrad((x) => value(x, positives, queue, 0.5, [2, 1]), q), 2e-3, 1e-2)
  })

  it("stays finite for logits of ±1e3", () => {
    const rng = makeRng(34)
    const q = randomUnitRows(rng, 3, 4)
    const positives = [randomUnitRows(rng, 3, 4), randomUnitRows(rng, 3, 4)]
    const queue = randomUnitRows(rng, 6, 4)
    const got = value(q, positives, queue, 1e-3)
    expectAllClose([got], [naive(q, positives, queue, 1e-3, [1, 1])], 1e-2, 1e-4)
    const grad = tf.tidy(() =>
      grad2d((x: tf.Tensor2D) => multiPositiveInfoNce(x, positives.map(t2), t2(queue), 1e-3))(t2(q)).arraySync() as Matrix
    )
    expectFinite(grad)
  })

  it("leaks no tensor", () => {
    const [q, p1, p2, queue] = [t2([[1, 0]]), t2([[0, 1]]), t2([[0.6, 0.8]]), t2([[1, 0], [0, 1]])]
    expectNoLeak(() => multiPositiveInfoNce(q, [p1, p2], queue, 0.2, [0.7, 0.3]))
    expectNoLeak(() => grad2d((x: tf.Tensor2D) => multiPositiveInfoNce(x, [p1, p2], queue, 0.2))(q))
    tf.dispose([q, p1, p2, queue])
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
