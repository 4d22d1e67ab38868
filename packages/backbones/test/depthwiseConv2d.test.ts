import * as tf from "@tensorflow/tfjs"
import { Rng } from "@bingo/runtime"
import { beforeAll, describe, expect, it } from "vitest"
import { depthwiseConv2dLoops, depthwiseConv2dStock } from "../src/ops.ts"
import { useCpu } from "./setup.ts"

beforeAll(useCpu)

const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => {
  const x = a.dataSync(),
    y = b.dataSync()
  let m = 0
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!))
  return m
}

describe("depthwiseConv2dLoops matches the stock TF.js depthwise convolution", () => {
  const cases = [
    { h: 7, w: 5, c: 3, k: 3, s: 1, p: 1 },
    { h: 8, w: 8, c: 4, k: 3, s: 2, p: 1 },
    { h: 9, w: 7, c: 2, k: 3, s: 2, p: 1 },
    { h: 1, w: 1, c: 5, k: 3, s: 2, p: 1 },
    { h: 6, w: 6, c: 2, k: 5, s: 1, p: 2 },
    { h: 5, w: 5, c: 1, k: 3, s: 1, p: 0 }
  ]
  for (const g of cases) {
    it(`forward and both gradients: ${JSON.stringify(g)}`, () => {
      const rng = Rng.fromSeed(g.h * 31 + g.k + g.s)
      const x = tf.tensor4d(
        Float32Array.from({ length: 2 * g.h * g.w * g.c }, () => rng.normal()),
        [2, g.h, g.w, g.c]
      )
      const w = tf.tensor4d(
        Float32Array.from({ length: g.k * g.k * g.c }, () => rng.normal()),
        [g.k, g.k, g.c, 1]
      )
      const grads = (f: typeof depthwiseConv2dStock) =>
        tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          f(a as tf.Tensor4D, b as tf.Tensor4D, g.s, g.p)
            .square()
            .sum()
        )
      const before = tf.memory().numTensors
      const yStock = depthwiseConv2dStock(x, w, g.s, g.p)
      const yLoops = depthwiseConv2dLoops(x, w, g.s, g.p)
      expect(yLoops.shape).toEqual(yStock.shape)
      // sums of <= 25 products of N(0, 1) values, in float32
      expect(maxAbsDiff(yLoops, yStock)).toBeLessThan(1e-5)
      const [dxS, dwS] = grads(depthwiseConv2dStock)([x, w])
      const [dxL, dwL] = grads(depthwiseConv2dLoops)([x, w])
      expect(maxAbsDiff(dxL!, dxS!)).toBeLessThan(1e-4)
      expect(maxAbsDiff(dwL!, dwS!)).toBeLessThan(1e-4)
      tf.dispose([yStock, yLoops, dxS!, dwS!, dxL!, dwL!])
      expect(tf.memory().numTensors).toBe(before)
      tf.dispose([x, w])
    })
  }

  it("gradients reach a tf.Variable kernel through tf.variableGrads", () => {
    const k = tf.variable(tf.ones([3, 3, 2, 1]))
    const x = tf.ones([1, 4, 4, 2]) as tf.Tensor4D
    const { value, grads } = tf.variableGrads(() => depthwiseConv2dLoops(x, k as tf.Tensor4D, 1, 1).sum() as tf.Scalar, [k])
    // 4x4 input of ones, 3x3 kernel of ones, zero padding: each tap sees 16 - (pixels cut off by the padding)
    // corner taps see 9 pixels, edge taps 12, the centre 16; per channel total 4*9 + 4*12 + 16 = 100
    expect(value.dataSync()[0]).toBe(200)
    expect(Array.from(grads[k.name]!.dataSync())).toEqual([9, 9, 12, 12, 9, 9, 12, 12, 16, 16, 12, 12, 9, 9, 12, 12, 9, 9])
    tf.dispose([value, grads[k.name]!, x, k])
  })
})
