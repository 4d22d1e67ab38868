import * as tf from "@tensorflow/tfjs"
import { beforeAll, describe, expect, it } from "vitest"
import { logSumExpRows } from "../../src/internal/logSumExp.ts"

beforeAll(async () => {
  await tf.setBackend("cpu")
})

describe("logSumExpRows", () => {
  it("equals log(sum(exp)) by hand, stays finite at +-1e3, and has softmax as its gradient", () => {
    const x = tf.tensor2d([
      [0, Math.log(3)],
      [1000, 1000],
      [-1000, -1001]
    ])
    const before = tf.memory().numTensors
    const [value, grad] = tf.tidy(() => [
      logSumExpRows(x),
      tf.grad((a: tf.Tensor) => tf.sum(tf.mul(logSumExpRows(a as tf.Tensor2D), tf.tensor2d([[1], [2], [1]]))))(x)
    ])
    const v = value!.dataSync()
    expect(v[0]).toBeCloseTo(Math.log(1 + 3), 5) // log(e^0 + e^ln3)
    expect(v[1]).toBeCloseTo(1000 + Math.log(2), 3)
    expect(v[2]).toBeCloseTo(-1000 + Math.log(1 + Math.exp(-1)), 3)
    const g = grad!.dataSync()
    // row weights 1, 2, 1 times softmax of each row (float32: lse near 1e3 carries ~3e-5 of rounding)
    const expected = [0.25, 0.75, 1, 1, 1 / (1 + Math.exp(-1)), 1 - 1 / (1 + Math.exp(-1))]
    Array.from(g).forEach((n, i) => expect(n).toBeCloseTo(expected[i]!, 4))
    tf.dispose([value!, grad!])
    expect(tf.memory().numTensors).toBe(before)
    x.dispose()
  })
})
