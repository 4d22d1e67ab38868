import * as tf from "@tensorflow/tfjs"
import { describe, expect, it } from "vitest"
import { infoNce } from "../src/infoNce.ts"
import { seedLoss, type SeedOptions } from "../src/seedLoss.ts"
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

const value = (s: Matrix, t: Matrix, queue: Matrix, options: Partial<SeedOptions> = {}): number =>
  scalarOf(() => seedLoss(t2(s), t2(t), t2(queue), options))

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

describe("seedLoss", () => {
  it("matches a hand computation", () => {
    // s = (1, 0), t = (0.6, 0.8), queue {(0, 1)}; candidates [t ; n]
    // student logits (s·t, s·n) / 1 = (0.6, 0); teacher logits (t·t, t·n) / 0.5 = (2, 1.6)
    const logPs0 = 0.6 - Math.log(Math.exp(0.6) + Math.exp(0))
    const logPs1 = 0 - Math.log(Math.exp(0.6) + Math.exp(0))
    const pt0 = Math.exp(2) / (Math.exp(2) + Math.exp(1.6))
    const pt1 = Math.exp(1.6) / (Math.exp(2) + Math.exp(1.6))
    expect(value([[1, 0]], [[0.6, 0.8]], [[0, 1]], { studentTemperature: 1, teacherTemperature: 0.5 }))
      .toBeCloseTo(-(pt0 * logPs0 + pt1 * logPs1), 6)
  })

  it("becomes InfoNCE against t_a when the teacher is one-hot on its own key (T_t → 0)", () => {
    // t·t = 1 exceeds every t·n, so at T_t = 1e-4 the teacher's distribution is one-hot on column 0
    const rng = makeRng(61)
    const [s, t, queue] = [randomUnitRows(rng, 4, 8), randomUnitRows(rng, 4, 8), randomUnitRows(rng, 16, 8)]
    const ce = scalarOf(() => infoNce(t2(s), t2(t), t2(queue), 0.2))
    expect(value(s, t, queue, { teacherTemperature: 1e-4 })).toBeCloseTo(ce, 5)
  })

  it("agrees with a naive loop implementation on random inputs", () => {
    const rng = makeRng(62)
    const [s, t, queue] = [randomUnitRows(rng, 4, 8), randomUnitRows(rng, 4, 8), randomUnitRows(rng, 16, 8)]
    expectAllClose([value(s, t, queue)], [naive(s, t, queue, 0.2, 0.01)], 1e-5)
    expectAllClose([value(s, t, queue, { teacherTemperature: 0.1 })], [naive(s, t, queue, 0.2, 0.1)], 1e-5)
  })

  it("has the finite-difference gradient with respect to the student", () => {
    const rng = makeRng(63)
    const [s, t, queue] = [randomUnitRows(rng, 2, 3), randomUnitRows(rng, 2, 3), randomUnitRows(rng, 4, 3)]
    const o = { studentTemperature: 0.5, teacherTemperature: 0.1 }
    const grad = tf.tidy(() => grad2d((x: tf.Tensor2D) => seedLoss(x, t2(t), t2(queue), o))(t2(s)).arraySync() as Matrix)
    expectFinite(grad)
    expectAllClose(grad, finiteDifferenceGrad((x) => value(x, t, queue, o), s), 2e-3, 1e-2)
  })

  it("stays finite for logits of ±1e3 (both temperatures 1e-3, and T_t = 1e-4 on unscaled inputs)", () => {
    const rng = makeRng(64)
    const [s, t, queue] = [randomUnitRows(rng, 3, 4), randomUnitRows(rng, 3, 4), randomUnitRows(rng, 6, 4)]
    const o = { studentTemperature: 1e-3, teacherTemperature: 1e-3 }
    const sharp = value(s, t, queue, o)
    expectAllClose([sharp], [naive(s, t, queue, 1e-3, 1e-3)], 1e-2, 1e-4)
    const big = (m: Matrix) => m.map((r) => r.map((x) => Math.fround(x * Math.sqrt(1000))))
    const unscaled = value(big(s), big(t), big(queue), { studentTemperature: 1, teacherTemperature: 1e-4 })
    expectAllClose([unscaled], [naive(big(s), big(t), big(queue), 1, 1e-4)], 1e-2, 1e-4)
    expectFinite([sharp, unscaled])
    const grads = tf.tidy(() =>
      grads2d((x: tf.Tensor2D, y: tf.Tensor2D) => seedLoss(x, y, t2(queue), o))([t2(s), t2(t)]).map((g) => g.arraySync() as Matrix)
    )
    grads.forEach(expectFinite)
  })

  it("leaks no tensor", () => {
    const [s, t, queue] = [t2([[1, 0]]), t2([[0, 1]]), t2([[1, 0], [0, 1]])]
    expectNoLeak(() => seedLoss(s, t, queue))
    expectNoLeak(() => grad2d((x: tf.Tensor2D) => seedLoss(x, t, queue))(s))
    tf.dispose([s, t, queue])
  })
})
