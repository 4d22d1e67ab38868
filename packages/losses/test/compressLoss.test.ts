import * as tf from "@tensorflow/tfjs"
import { describe, expect, it } from "vitest"
import { compressLoss } from "../src/compressLoss.ts"
import {
  dot,
  expectAllClose,
  expectFinite,
  expectNoLeak,
  finiteDifferenceGrad,
  grad2d,
  grads2d,
  logSoftmax,
  makeRng,
  type Matrix,
  randomUnitRows,
  scalarOf,
  t2,
  useCpuBackend
} from "./helpers.ts"

useCpuBackend()

const value = (s: Matrix, t: Matrix, queue: Matrix, temperature?: number): number =>
  scalarOf(() => compressLoss(t2(s), t2(t), t2(queue), temperature))

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

describe("compressLoss", () => {
  it("matches a hand computation", () => {
    // s = (1, 0), t = (0.6, 0.8), queue {(0, 1), (1, 0)}, T = 1
    // student logits (0, 1); teacher logits (0.8, 0.6)
    const z = Math.log(Math.exp(0) + Math.exp(1))
    const [logPs0, logPs1] = [0 - z, 1 - z]
    const w = Math.log(Math.exp(0.8) + Math.exp(0.6))
    const [logPt0, logPt1] = [0.8 - w, 0.6 - w]
    const kl = Math.exp(logPt0) * (logPt0 - logPs0) + Math.exp(logPt1) * (logPt1 - logPs1)
    expect(value([[1, 0]], [[0.6, 0.8]], [[0, 1], [1, 0]], 1)).toBeCloseTo(kl, 6)
  })

  it("is 0 when student and teacher agree and positive otherwise", () => {
    const rng = makeRng(71)
    const [s, t, queue] = [randomUnitRows(rng, 4, 8), randomUnitRows(rng, 4, 8), randomUnitRows(rng, 16, 8)]
    expect(Math.abs(value(t, t, queue))).toBeLessThan(1e-5)
    expect(value(s, t, queue)).toBeGreaterThan(0.1)
  })

  it("agrees with a naive loop implementation on random inputs", () => {
    const rng = makeRng(72)
    const [s, t, queue] = [randomUnitRows(rng, 4, 8), randomUnitRows(rng, 4, 8), randomUnitRows(rng, 16, 8)]
    // T = 0.04 puts logits near ±25, so compare relative to the loss's size
    expectAllClose([value(s, t, queue)], [naive(s, t, queue, 0.04)], 1e-5, 1e-6)
    expectAllClose([value(s, t, queue, 0.2)], [naive(s, t, queue, 0.2)], 1e-5)
  })

  it("has the finite-difference gradient with respect to the student", () => {
    const rng = makeRng(73)
    const [s, t, queue] = [randomUnitRows(rng, 2, 3), randomUnitRows(rng, 2, 3), randomUnitRows(rng, 4, 3)]
    const grad = tf.tidy(() => grad2d((x: tf.Tensor2D) => compressLoss(x, t2(t), t2(queue), 0.5))(t2(s)).arraySync() as Matrix)
    expectFinite(grad)
    expectAllClose(grad, finiteDifferenceGrad((x) => value(x, t, queue, 0.5), s), 2e-3, 1e-2)
  })

  it("stays finite for logits of ±1e3 (a teacher probability that underflows counts 0)", () => {
    const rng = makeRng(74)
    const [s, t, queue] = [randomUnitRows(rng, 3, 4), randomUnitRows(rng, 3, 4), randomUnitRows(rng, 6, 4)]
    const sharp = value(s, t, queue, 1e-3)
    expectAllClose([sharp], [naive(s, t, queue, 1e-3)], 1e-2, 1e-4)
    const grads = tf.tidy(() =>
      grads2d((x: tf.Tensor2D, y: tf.Tensor2D) => compressLoss(x, y, t2(queue), 1e-3))([t2(s), t2(t)])
        .map((g) => g.arraySync() as Matrix)
    )
    expectFinite(sharp)
    grads.forEach(expectFinite)
  })

  it("leaks no tensor", () => {
    const [s, t, queue] = [t2([[1, 0]]), t2([[0, 1]]), t2([[1, 0], [0, 1]])]
    expectNoLeak(() => compressLoss(s, t, queue))
    expectNoLeak(() => grad2d((x: tf.Tensor2D) => compressLoss(x, t, queue))(s))
    tf.dispose([s, t, queue])
  })
})
