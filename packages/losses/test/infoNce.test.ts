import * as tf from "@tensorflow/tfjs"
import { describe, expect, it } from "vitest"
import { infoNce } from "../src/infoNce.ts"
import {
  expectAllClose,
  expectFinite,
  expectNoLeak,
  finiteDifferenceGrad,
  grad2d,
  makeRng,
  type Matrix,
  naiveInfoNce,
  randomUnitRows,
  scalarOf,
  t2,
  useCpuBackend
} from "./helpers.ts"

useCpuBackend()

const value = (q: Matrix, k: Matrix, queue: Matrix, temperature: number): number =>
  scalarOf(() => infoNce(t2(q), t2(k), t2(queue), temperature))

describe("infoNce", () => {
  it("matches a hand computation (mean over the batch)", () => {
    // row 0 logits / 0.5: (0.6, 0, -1) / 0.5;  row 1: (1, 1, 0) / 0.5
    const row0 = -1.2 + Math.log(Math.exp(1.2) + Math.exp(0) + Math.exp(-2))
    const row1 = -2 + Math.log(2 * Math.exp(2) + Math.exp(0))
    expect(value([[1, 0], [0, 1]], [[0.6, 0.8], [0, 1]], [[0, 1], [-1, 0]], 0.5)).toBeCloseTo((row0 + row1) / 2, 6)
  })

  it("is log(1 + Q) when every logit is equal", () => {
    // q orthogonal to k and to all Q = 3 queue entries: logits all 0
    expect(value([[1, 0, 0]], [[0, 1, 0]], [[0, 0, 1], [0, -1, 0], [0, 0, -1]], 0.2)).toBeCloseTo(Math.log(4), 6)
  })

  it("agrees with a naive loop implementation on random inputs", () => {
    const rng = makeRng(21)
    const [q, k, queue] = [randomUnitRows(rng, 4, 8), randomUnitRows(rng, 4, 8), randomUnitRows(rng, 16, 8)]
    expectAllClose([value(q, k, queue, 0.2)], [naiveInfoNce(q, k, queue, 0.2)], 1e-5)
  })

  it("has the finite-difference gradient with respect to q", () => {
    const rng = makeRng(22)
    const [q, k, queue] = [randomUnitRows(rng, 2, 3), randomUnitRows(rng, 2, 3), randomUnitRows(rng, 4, 3)]
    const grad = tf.tidy(() => grad2d((x: tf.Tensor2D) => infoNce(x, t2(k), t2(queue), 0.5))(t2(q)).arraySync() as Matrix)
    expectFinite(grad)
    expectAllClose(grad, finiteDifferenceGrad((x) => value(x, k, queue, 0.5), q), 2e-3, 1e-2)
  })

  it("stays finite for logits of ±1e3 (T = 1e-3, and unscaled inputs)", () => {
    const rng = makeRng(23)
    const [q, k, queue] = [randomUnitRows(rng, 3, 4), randomUnitRows(rng, 3, 4), randomUnitRows(rng, 6, 4)]
    const sharp = value(q, k, queue, 1e-3)
    expectAllClose([sharp], [naiveInfoNce(q, k, queue, 1e-3)], 1e-2, 1e-4)
    // vectors of norm √1000: dot products up to ±1e3 at T = 1
    const big = (m: Matrix) => m.map((r) => r.map((x) => Math.fround(x * Math.sqrt(1000))))
    const unscaled = value(big(q), big(k), big(queue), 1)
    expectAllClose([unscaled], [naiveInfoNce(big(q), big(k), big(queue), 1)], 1e-2, 1e-4)
    const grad = tf.tidy(() => grad2d((x: tf.Tensor2D) => infoNce(x, t2(k), t2(queue), 1e-3))(t2(q)).arraySync() as Matrix)
    expectFinite([sharp, unscaled])
    expectFinite(grad)
  })

  it("leaks no tensor", () => {
    const [q, k, queue] = [t2([[1, 0]]), t2([[0, 1]]), t2([[1, 0], [0, 1]])]
    expectNoLeak(() => infoNce(q, k, queue, 0.2))
    expectNoLeak(() => grad2d((x: tf.Tensor2D) => infoNce(x, k, queue, 0.2))(q))
    tf.dispose([q, k, queue])
  })
})
