import * as tf from "@tensorflow/tfjs"
import { describe, expect, it } from "vitest"
import { discoLoss, type DiscoOptions } from "../src/discoLoss.ts"
import { mocoLoss } from "../src/mocoLoss.ts"
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

const value = (s: Matrix, k: Matrix, queue: Matrix, t: Matrix, options: Partial<DiscoOptions> = {}): number =>
  scalarOf(() => discoLoss(t2(s), t2(k), t2(queue), t2(t), options))

/** InfoNCE(s, k; queue) + weight · mean over all B·D entries of (s − t)², by loops. */
const naive = (s: Matrix, k: Matrix, queue: Matrix, t: Matrix, T: number, weight: number): number => {
  let se = 0
  s.forEach((row, b) => row.forEach((x, d) => (se += (x - t[b]![d]!) ** 2)))
  return naiveInfoNce(s, k, queue, T) + (weight * se) / (s.length * s[0]!.length)
}

describe("discoLoss", () => {
  it("matches a hand computation", () => {
    // s = (1, 0), k = (0.6, 0.8), queue {(0, 1)}, t = (0, 1), T = 1, weight 2
    // InfoNCE logits (0.6, 0); MSE = ((1 − 0)² + (0 − 1)²) / 2 = 1
    const ce = -0.6 + Math.log(Math.exp(0.6) + Math.exp(0))
    expect(value([[1, 0]], [[0.6, 0.8]], [[0, 1]], [[0, 1]], { temperature: 1, weight: 2 })).toBeCloseTo(ce + 2 * 1, 6)
  })

  it("is the MoCo loss when weight is 0 or the student equals the teacher", () => {
    const rng = makeRng(81)
    const [s, k, queue, t] = [randomUnitRows(rng, 4, 8), randomUnitRows(rng, 4, 8), randomUnitRows(rng, 16, 8), randomUnitRows(rng, 4, 8)]
    const moco = scalarOf(() => mocoLoss(t2(s), t2(k), t2(queue)))
    expect(value(s, k, queue, t, { weight: 0 })).toBeCloseTo(moco, 6)
    expect(value(s, k, queue, s)).toBeCloseTo(moco, 6)
  })

  it("agrees with a naive loop implementation on random inputs", () => {
    const rng = makeRng(82)
    const [s, k, queue, t] = [randomUnitRows(rng, 4, 8), randomUnitRows(rng, 4, 8), randomUnitRows(rng, 16, 8), randomUnitRows(rng, 4, 8)]
    expectAllClose([value(s, k, queue, t)], [naive(s, k, queue, t, 0.2, 1)], 1e-5)
    expectAllClose([value(s, k, queue, t, { weight: 3.5 })], [naive(s, k, queue, t, 0.2, 3.5)], 1e-5)
  })

  it("has the finite-difference gradient with respect to the student", () => {
    const rng = makeRng(83)
    const [s, k, queue, t] = [randomUnitRows(rng, 2, 3), randomUnitRows(rng, 2, 3), randomUnitRows(rng, 4, 3), randomUnitRows(rng, 2, 3)]
    const o = { temperature: 0.5, weight: 2 }
    const grad = tf.tidy(() =>
      grad2d((x: tf.Tensor2D) => discoLoss(x, t2(k), t2(queue), t2(t), o))(t2(s)).arraySync() as Matrix
    )
    expectFinite(grad)
    expectAllClose(grad, finiteDifferenceGrad((x) => value(x, k, queue, t, o), s), 2e-3, 1e-2)
  })

  it("stays finite for logits of ±1e3", () => {
    const rng = makeRng(84)
    const [s, k, queue, t] = [randomUnitRows(rng, 3, 4), randomUnitRows(rng, 3, 4), randomUnitRows(rng, 6, 4), randomUnitRows(rng, 3, 4)]
    const sharp = value(s, k, queue, t, { temperature: 1e-3 })
    expectAllClose([sharp], [naive(s, k, queue, t, 1e-3, 1)], 1e-2, 1e-4)
    const grad = tf.tidy(() =>
      grad2d((x: tf.Tensor2D) => discoLoss(x, t2(k), t2(queue), t2(t), { temperature: 1e-3 }))(t2(s)).arraySync() as Matrix
    )
    expectFinite(sharp)
    expectFinite(grad)
  })

  it("leaks no tensor", () => {
    const [s, k, queue, t] = [t2([[1, 0]]), t2([[0, 1]]), t2([[1, 0], [0, 1]]), t2([[0.6, 0.8]])]
    expectNoLeak(() => discoLoss(s, k, queue, t))
    expectNoLeak(() => grad2d((x: tf.Tensor2D) => discoLoss(x, k, queue, t))(s))
    tf.dispose([s, k, queue, t])
  })
})
