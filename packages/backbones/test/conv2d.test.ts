import * as tf from "@tensorflow/tfjs"
import { Rng } from "@bingo/runtime"
import { beforeAll, describe, expect, it } from "vitest"
import { conv2dIm2col, conv2dStock } from "../src/ops.ts"
import { useCpu } from "./setup.ts"

beforeAll(useCpu)

const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => {
  const x = a.dataSync(),
    y = b.dataSync()
  let m = 0
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!))
  return m
}

describe("conv2dIm2col matches the stock TF.js convolution", () => {
  const cases = [
    { h: 7, w: 5, c: 3, o: 4, k: 3, s: 1, p: 1 },
    { h: 8, w: 8, c: 2, o: 3, k: 3, s: 2, p: 1 },
    { h: 9, w: 7, c: 2, o: 3, k: 3, s: 2, p: 1 },
    { h: 6, w: 6, c: 4, o: 5, k: 1, s: 1, p: 0 },
    { h: 7, w: 7, c: 4, o: 5, k: 1, s: 2, p: 0 },
    { h: 11, w: 11, c: 3, o: 2, k: 7, s: 2, p: 3 },
    { h: 5, w: 5, c: 1, o: 2, k: 3, s: 1, p: 0 }
  ]
  for (const g of cases) {
    it(`forward and both gradients: ${JSON.stringify(g)}`, () => {
      const rng = Rng.fromSeed(g.h * 31 + g.k)
      const x = tf.tensor4d(
        Float32Array.from({ length: 2 * g.h * g.w * g.c }, () => rng.normal()),
        [2, g.h, g.w, g.c]
      )
      const w = tf.tensor4d(
        Float32Array.from({ length: g.k * g.k * g.c * g.o }, () => rng.normal()),
        [g.k, g.k, g.c, g.o]
      )
      const dy = (f: typeof conv2dStock) =>
        tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          f(a as tf.Tensor4D, b as tf.Tensor4D, g.s, g.p)
            .square()
            .sum()
        )
      const before = tf.memory().numTensors
      const yStock = conv2dStock(x, w, g.s, g.p)
      const yIm2col = conv2dIm2col(x, w, g.s, g.p)
      expect(yIm2col.shape).toEqual(yStock.shape)
      // max abs diff: float32 sums of <= 147 products of N(0,1) values
      expect(maxAbsDiff(yIm2col, yStock)).toBeLessThan(1e-4)
      const [dxS, dwS] = dy(conv2dStock)([x, w])
      const [dxI, dwI] = dy(conv2dIm2col)([x, w])
      expect(maxAbsDiff(dxI!, dxS!)).toBeLessThan(1e-3)
      expect(maxAbsDiff(dwI!, dwS!)).toBeLessThan(1e-3)
      tf.dispose([yStock, yIm2col, dxS!, dwS!, dxI!, dwI!])
      expect(tf.memory().numTensors).toBe(before)
      tf.dispose([x, w])
    })
  }
})
