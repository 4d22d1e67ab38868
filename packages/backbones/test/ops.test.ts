import * as tf from "@tensorflow/tfjs"
import { Rng } from "@bingo/runtime"
import { beforeAll, describe, expect, it } from "vitest"
import { batchNorm, batchNormTrain, BN_EPSILON, conv2d, l2Normalize } from "../src/ops.ts"
import { ParamStore } from "../src/ParamStore.ts"
import { useCpu } from "./setup.ts"

beforeAll(useCpu)

describe("batchNorm", () => {
  it("train mode normalises with batch statistics and updates running stats like PyTorch", () => {
    const store = new ParamStore(Rng.fromSeed(0), "bn-test")
    const p = store.batchNorm("bn", 1)
    // one channel, values 1,2,3,4: mean 2.5, biased var 1.25, unbiased 5/3
    const x = tf.tensor4d([1, 2, 3, 4], [4, 1, 1, 1])
    const y = batchNorm(x, p, "train")
    const expected = [1, 2, 3, 4].map((v) => (v - 2.5) / Math.sqrt(1.25 + BN_EPSILON))
    Array.from(y.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 5))
    expect(p.mean.dataSync()[0]).toBeCloseTo(0.9 * 0 + 0.1 * 2.5, 6)
    expect(p.variance.dataSync()[0]).toBeCloseTo(0.9 * 1 + 0.1 * (5 / 3), 6)
    // batch-stats mode normalises the same way but leaves running stats alone
    const y2 = batchNorm(x, p, "batch-stats")
    expect(Array.from(y2.dataSync())).toEqual(Array.from(y.dataSync()))
    expect(p.mean.dataSync()[0]).toBeCloseTo(0.25, 6)
    // eval mode uses the running statistics
    const y3 = batchNorm(x, p, "eval")
    const m = 0.25,
      v = 0.9 + 0.1 * (5 / 3)
    Array.from(y3.dataSync()).forEach((val, i) => expect(val).toBeCloseTo(([1, 2, 3, 4][i]! - m) / Math.sqrt(v + BN_EPSILON), 5))
    tf.dispose([x, y, y2, y3])
    for (const v of store.params.values()) v.dispose()
  })
})

describe("conv2d", () => {
  it("pads symmetrically like PyTorch at stride 2 (checked against a loop)", () => {
    const rng = Rng.fromSeed(2)
    const [H, W, C, O, K, S, P] = [6, 6, 2, 3, 3, 2, 1]
    const xs = Float32Array.from({ length: H * W * C }, () => rng.normal())
    const ws = Float32Array.from({ length: K * K * C * O }, () => rng.normal())
    const y = tf.tidy(() => conv2d(tf.tensor4d(xs, [1, H, W, C]), tf.tensor4d(ws, [K, K, C, O]), S, P))
    const OH = Math.floor((H + 2 * P - K) / S) + 1
    expect(y.shape).toEqual([1, OH, OH, O])
    const got = y.dataSync()
    for (let oy = 0; oy < OH; oy++)
      for (let ox = 0; ox < OH; ox++)
        for (let o = 0; o < O; o++) {
          let s = 0
          for (let ky = 0; ky < K; ky++)
            for (let kx = 0; kx < K; kx++)
              for (let c = 0; c < C; c++) {
                const iy = oy * S - P + ky,
                  ix = ox * S - P + kx
                if (iy < 0 || ix < 0 || iy >= H || ix >= W) continue
                s += xs[(iy * W + ix) * C + c]! * ws[((ky * K + kx) * C + c) * O + o]!
              }
          expect(got[(oy * OH + ox) * O + o]).toBeCloseTo(s, 4)
        }
    y.dispose()
  })
})

describe("l2Normalize", () => {
  it("gives unit rows and leaves zero rows at zero", () => {
    const y = l2Normalize(
      tf.tensor2d([
        [3, 4],
        [0, 0]
      ])
    )
    expect(Array.from(y.dataSync())).toEqual([0.6000000238418579, 0.800000011920929, 0, 0])
    y.dispose()
  })
})

describe("batchNormTrain (closed-form gradient)", () => {
  it("matches TF.js batchNorm in value and in all three gradients", () => {
    const rng = Rng.fromSeed(11)
    const n = 13,
      c = 4
    const x = tf.tensor2d(
      Float32Array.from({ length: n * c }, () => rng.normal() * 3 + 1),
      [n, c]
    )
    const g = tf.tensor1d(Float32Array.from({ length: c }, () => rng.uniform(0.5, 1.5)))
    const b = tf.tensor1d(Float32Array.from({ length: c }, () => rng.normal()))
    const w = tf.tensor2d(
      Float32Array.from({ length: n * c }, () => rng.normal()),
      [n, c]
    ) // random upstream gradient
    const reference = (xs: tf.Tensor, gs: tf.Tensor, bs: tf.Tensor) => {
      const { mean, variance } = tf.moments(xs, 0)
      return tf.batchNorm(xs, mean, variance, bs, gs, BN_EPSILON)
    }
    const before = tf.memory().numTensors
    const loss = (f: typeof reference) => (xs: tf.Tensor, gs: tf.Tensor, bs: tf.Tensor) => tf.sum(tf.mul(f(xs, gs, bs), w))
    const [yRef, yOurs] = tf.tidy(() => [reference(x, g, b), batchNormTrain(x, g, b)])
    const gRef = tf.grads(loss(reference))([x, g, b])
    const gOurs = tf.grads(loss((xs, gs, bs) => batchNormTrain(xs as tf.Tensor2D, gs, bs)))([x, g, b])
    const maxDiff = (a: tf.Tensor, bb: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, bb))).dataSync()[0]!)
    expect(maxDiff(yOurs, yRef)).toBeLessThan(1e-5)
    for (let i = 0; i < 3; i++) expect(maxDiff(gOurs[i]!, gRef[i]!)).toBeLessThan(1e-4)
    tf.dispose([yRef, yOurs, ...gRef, ...gOurs])
    expect(tf.memory().numTensors).toBe(before)
    tf.dispose([x, g, b, w])
  })
})
