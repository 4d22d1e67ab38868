import * as tf from "@tensorflow/tfjs"
import { describe, expect, it } from "vitest"
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

const value = (q: Matrix, k: Matrix, queue: Matrix, temperature?: number): number =>
  scalarOf(() => mocoLoss(t2(q), t2(k), t2(queue), temperature))

describe("mocoLoss", () => {
  it("matches a hand computation at the default T = 0.2", () => {
    // q·k = 0.6, q·n = 0 → logits (3, 0)
    expect(value([[1, 0]], [[0.6, 0.8]], [[0, 1]])).toBeCloseTo(-3 + Math.log(Math.exp(3) + Math.exp(0)), 6)
  })

  it("agrees with a naive loop implementation on random inputs", () => {
    const rng = makeRng(51)
    const [q, k, queue] = [randomUnitRows(rng, 4, 8), randomUnitRows(rng, 4, 8), randomUnitRows(rng, 16, 8)]
    expectAllClose([value(q, k, queue)], [naiveInfoNce(q, k, queue, 0.2)], 1e-5)
    expectAllClose([value(q, k, queue, 0.07)], [naiveInfoNce(q, k, queue, 0.07)], 1e-5)
  })

  it("has the finite-difference gradient with respect to the query", () => {
    const rng = makeRng(52)
    const [q, k, queue] = [randomUnitRows(rng, 2, 3), randomUnitRows(rng, 2, 3), randomUnitRows(rng, 4, 3)]
    const grad = tf.tidy(() => grad2d((x: tf.Tensor2D) => mocoLoss(x, t2(k), t2(queue), 0.5))(t2(q)).arraySync() as Matrix)
    expectFinite(grad)
    expectAllClose(grad, finiteDifferenceGrad((x) => value(x, k, queue, 0.5), q), 2e-3, 1e-2)
  })

  it("stays finite for logits of ±1e3", () => {
    const rng = makeRng(53)
    const [q, k, queue] = [randomUnitRows(rng, 3, 4), randomUnitRows(rng, 3, 4), randomUnitRows(rng, 6, 4)]
    expectAllClose([value(q, k, queue, 1e-3)], [naiveInfoNce(q, k, queue, 1e-3)], 1e-2, 1e-4)
    const grad = tf.tidy(() => grad2d((x: tf.Tensor2D) => mocoLoss(x, t2(k), t2(queue), 1e-3))(t2(q)).arraySync() as Matrix)
    expectFinite(grad)
  })

  it("leaks no tensor", () => {
    const [q, k, queue] = [t2([[1, 0]]), t2([[0, 1]]), t2([[1, 0], [0, 1]])]
    expectNoLeak(() => mocoLoss(q, k, queue))
    expectNoLeak(() => grad2d((x: tf.Tensor2D) => mocoLoss(x, k, queue))(q))
    tf.dispose([q, k, queue])
  })
})
