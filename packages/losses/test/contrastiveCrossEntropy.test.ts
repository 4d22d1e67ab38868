import * as tf from "@tensorflow/tfjs"
import { describe, expect, it } from "vitest"
import { contrastiveCrossEntropy } from "../src/contrastiveCrossEntropy.ts"
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
  t2,
  useCpuBackend
} from "./helpers.ts"

useCpuBackend()

const ceRows = (s: Matrix, t: Matrix, queue: Matrix, temperature: number): Array<number> =>
  tf.tidy(() => Array.from(contrastiveCrossEntropy(t2(s), t2(t), t2(queue), temperature).dataSync()))

describe("contrastiveCrossEntropy", () => {
  it("matches a hand computation, one value per row", () => {
    // row 0: s·t = 0.6, s·n = (0, -1); logits / 0.5 = (1.2, 0, -2)
    // row 1: s·t = 1,   s·n = (1, 0);  logits / 0.5 = (2, 2, 0)
    const got = ceRows([[1, 0], [0, 1]], [[0.6, 0.8], [0, 1]], [[0, 1], [-1, 0]], 0.5)
    expectAllClose(got, [
      -1.2 + Math.log(Math.exp(1.2) + Math.exp(0) + Math.exp(-2)),
      -2 + Math.log(2 * Math.exp(2) + Math.exp(0))
    ], 1e-6)
  })

  it("is log(1 + Q·e^(-1/T)) when s = t and the queue is orthogonal to s", () => {
    const got = ceRows([[1, 0, 0]], [[1, 0, 0]], [[0, 1, 0], [0, 0, 1], [0, -1, 0]], 0.2)
    expectAllClose(got, [Math.log(1 + 3 * Math.exp(-1 / 0.2))], 1e-7)
  })

  it("agrees with a naive loop implementation on random inputs", () => {
    const rng = makeRng(11)
    const [s, t, queue] = [randomUnitRows(rng, 5, 8), randomUnitRows(rng, 5, 8), randomUnitRows(rng, 16, 8)]
    expectAllClose(ceRows(s, t, queue, 0.2), s.map((row, b) => naiveRowCe(row, t[b]!, queue, 0.2)), 1e-5)
  })

  it("has the finite-difference gradient with respect to s", () => {
    const rng = makeRng(12)
    const [s, t, queue] = [randomUnitRows(rng, 2, 3), randomUnitRows(rng, 2, 3), randomUnitRows(rng, 4, 3)]
    const f = (x: Matrix) => tf.tidy(() => tf.sum(contrastiveCrossEntropy(t2(x), t2(t), t2(queue), 0.5)).dataSync()[0]!)
    const grad = tf.tidy(() =>
      grad2d((x: tf.Tensor2D) => tf.sum(contrastiveCrossEntropy(x, t2(t), t2(queue), 0.5)))(t2(s)).arraySync() as Matrix
    )
    expectFinite(grad)
    expectAllClose(grad, finiteDifferenceGrad(f, s), 2e-3, 1e-2)
  })

  it("stays finite for logits of ±1e3", () => {
    const rng = makeRng(13)
    const [s, t, queue] = [randomUnitRows(rng, 3, 4), randomUnitRows(rng, 3, 4), randomUnitRows(rng, 6, 4)]
    const got = ceRows(s, t, queue, 1e-3)
    expectFinite(got)
    expectAllClose(got, s.map((row, b) => naiveRowCe(row, t[b]!, queue, 1e-3)), 1e-2, 1e-4)
    const grad = tf.tidy(() =>
      grad2d((x: tf.Tensor2D) => tf.sum(contrastiveCrossEntropy(x, t2(t), t2(queue), 1e-3)))(t2(s)).arraySync() as Matrix
    )
    expectFinite(grad)
  })

  it("leaks no tensor", () => {
    const [s, t, queue] = [t2([[1, 0]]), t2([[0, 1]]), t2([[1, 0], [0, 1]])]
    expectNoLeak(() => contrastiveCrossEntropy(s, t, queue, 0.2))
    expectNoLeak(() => grad2d((x: tf.Tensor2D) => tf.sum(contrastiveCrossEntropy(x, t, queue, 0.2)))(s))
    tf.dispose([s, t, queue])
  })

  it("rejects mismatched shapes and a non-positive temperature", () => {
    const [s, t3, q] = [t2([[1, 0]]), t2([[1, 0, 0]]), t2([[1, 0]])]
    expect(() => contrastiveCrossEntropy(s, t3, q, 0.2)).toThrow(/'t' has shape \[1, 3\]/)
    expect(() => contrastiveCrossEntropy(s, s, t3, 0.2)).toThrow(/'queue' has width 3/)
    expect(() => contrastiveCrossEntropy(s, s, q, 0)).toThrow(/temperature/)
    tf.dispose([s, t3, q])
  })
})
