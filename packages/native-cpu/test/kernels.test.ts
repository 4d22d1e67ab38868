import * as tf from "@tensorflow/tfjs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { BATCH_NORM_TRAIN, CONV2D } from "../src/kernels.ts"
import { loadNativeAddon } from "../src/loadAddon.ts"
import {
  hasNativeKernel,
  nativeBatchNorm,
  nativeKernelsRegistered,
  registerNativeKernels,
  unregisterNativeKernels
} from "../src/registerNativeKernels.ts"
import { rand } from "./rand.ts"

const loaded = loadNativeAddon()
const skipReason = "error" in loaded ? `native addon unavailable: ${loaded.error}` : ""
if (skipReason !== "") console.warn(`[native-cpu] skipping kernel tests: ${skipReason}`)

/** Run `f` with the stock kernels and with the native ones; the largest |difference| over all outputs. */
const compare = (f: () => tf.Tensor | Array<tf.Tensor>): { readonly maxAbsDiff: number; readonly maxAbs: number } => {
  const values = (): Array<Float32Array> => {
    const out = tf.tidy(f)
    const list = Array.isArray(out) ? out : [out]
    const v = list.map((t) => Float32Array.from(t.dataSync()))
    tf.dispose(list)
    return v
  }
  unregisterNativeKernels()
  expect(nativeKernelsRegistered()).toBe(false)
  const stock = values()
  const reg = registerNativeKernels()
  expect("error" in reg).toBe(false)
  expect(nativeKernelsRegistered()).toBe(true)
  const native = values()
  expect(native.map((v) => v.length)).toEqual(stock.map((v) => v.length))
  let maxAbsDiff = 0,
    maxAbs = 0
  stock.forEach((s, j) => {
    for (let i = 0; i < s.length; i++) {
      maxAbsDiff = Math.max(maxAbsDiff, Math.abs(s[i]! - native[j]![i]!))
      maxAbs = Math.max(maxAbs, Math.abs(s[i]!))
    }
  })
  return { maxAbsDiff, maxAbs }
}

describe.skipIf(skipReason !== "")("native cpu kernels match the stock TF.js cpu kernels", () => {
  beforeAll(async () => {
    await tf.setBackend("cpu")
    await tf.ready()
  })
  afterAll(() => unregisterNativeKernels())

  it("registers explicitly, says what it registered, and unregisters", () => {
    unregisterNativeKernels()
    expect(nativeKernelsRegistered()).toBe(false)
    const reg = registerNativeKernels()
    if ("error" in reg) throw new Error(reg.error)
    expect(reg.registered).toEqual(
      expect.arrayContaining([
        "Conv2D",
        "Conv2DBackpropInput",
        "Conv2DBackpropFilter",
        "BatchMatMul",
        "FusedBatchNorm",
        "Add",
        "Sub",
        "Multiply",
        "RealDiv",
        "SquaredDifference",
        "Maximum",
        "Minimum",
        "Sum",
        "Mean",
        "Tile",
        "Relu",
        "Step",
        "Square",
        "Neg",
        "BingoBatchNormTrain"
      ])
    )
    expect(reg.threads).toBeGreaterThanOrEqual(1)
    expect(reg.description).toMatch(/oneDNN \d+\.\d+/)
    expect([hasNativeKernel(CONV2D), hasNativeKernel(BATCH_NORM_TRAIN), hasNativeKernel("Conv2DBackpropFilter")]).toEqual([
      true,
      true,
      true
    ])
    // a kernel this package does not replace is not native
    expect(hasNativeKernel("MaxPool")).toBe(false)
    unregisterNativeKernels()
    expect(nativeKernelsRegistered()).toBe(false)
    expect([hasNativeKernel(CONV2D), hasNativeKernel(BATCH_NORM_TRAIN)]).toEqual([false, false])
  })

  // [x shape, filter [kh, kw, in, out], stride, pad, dilation]
  const convCases: Array<
    [string, Array<number>, Array<number>, number | [number, number], tf.backend_util.ExplicitPadding | "same" | "valid" | number, number]
  > = [
    ["3x3 stride 1 same", [2, 8, 8, 3], [3, 3, 3, 8], 1, "same", 1],
    ["3x3 stride 2 same, odd size", [2, 7, 9, 4], [3, 3, 4, 6], 2, "same", 1],
    ["3x3 stride 2 valid", [2, 9, 8, 5], [3, 3, 5, 7], 2, "valid", 1],
    ["1x1 stride 1", [3, 5, 5, 16], [1, 1, 16, 8], 1, "valid", 1],
    ["1x1 stride 2 (ResNet shortcut)", [2, 8, 8, 16], [1, 1, 16, 32], 2, "valid", 1],
    [
      "explicit asymmetric padding",
      [2, 6, 7, 3],
      [3, 2, 3, 4],
      [2, 1],
      [
        [0, 0],
        [1, 2],
        [0, 1],
        [0, 0]
      ],
      1
    ],
    ["numeric padding 1, stride 2", [1, 11, 11, 2], [3, 3, 2, 5], 2, 1, 1],
    ["3x3 dilation 2 (5x5 field)", [1, 12, 12, 3], [3, 3, 3, 4], 1, "same", 2],
    ["7x7 stride 2 (ImageNet stem), 1 input channel", [2, 17, 17, 1], [7, 7, 1, 8], 2, "same", 1]
  ]
  for (const [name, xs, ws, stride, pad, dilation] of convCases) {
    // TF.js has no gradient for dilated convolutions: forward only there.
    it(`conv2d forward${dilation === 1 ? " and both gradients" : ""}: ${name} (max abs diff < 1e-4)`, () => {
      const r = compare(() => {
        const x = rand(xs, 1),
          w = rand(ws, 2)
        if (dilation !== 1) return tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad, "NHWC", dilation)
        const yShape = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad, "NHWC", dilation).shape
        const probe = rand(yShape, 3)
        const loss = (a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad, "NHWC", dilation), probe))
        const [dx, dw] = tf.grads(loss)([x, w])
        return [tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad, "NHWC", dilation), dx!, dw!]
      })
      expect(r.maxAbs).toBeGreaterThan(0.1)
      expect(r.maxAbsDiff).toBeLessThan(1e-4)
    })
  }

  const matMulCases: Array<[string, Array<number>, Array<number>, boolean, boolean]> = [
    ["2-D", [33, 17], [17, 9], false, false],
    ["transposeA", [17, 33], [17, 9], true, false],
    ["transposeB", [33, 17], [9, 17], false, true],
    ["both transposed", [17, 33], [9, 17], true, true],
    ["batched", [4, 5, 6], [4, 6, 7], false, false],
    ["large (threaded)", [256, 300], [300, 200], false, false]
  ]
  for (const [name, as, bs, ta, tb] of matMulCases) {
    it(`matMul ${name} and its gradients (max abs diff < 1e-4)`, () => {
      const r = compare(() => {
        const a = rand(as, 4),
          b = rand(bs, 5)
        const [da, db] = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.square(tf.matMul(p, q, ta, tb))))([a, b])
        return [tf.matMul(a, b, ta, tb), da!, db!]
      })
      expect(r.maxAbsDiff).toBeLessThan(1e-4 * Math.max(1, r.maxAbs))
    })
  }

  it("matMul with a broadcast batch (forward only: TF.js's own gradient rejects it) (max abs diff < 1e-5)", () => {
    const r = compare(() => tf.matMul(rand([1, 5, 6], 4), rand([3, 6, 7], 5)))
    expect(r.maxAbsDiff).toBeLessThan(1e-5)
  })

  const broadcastCases: Array<[string, Array<number>, Array<number>]> = [
    ["same shape", [3, 4, 5], [3, 4, 5]],
    ["NHWC by channel vector", [2, 3, 4, 5], [5]],
    ["by scalar", [7, 3], []],
    ["scalar by tensor", [], [4, 3]],
    ["outer product", [3, 1], [1, 4]],
    ["middle axes", [2, 3, 4, 5], [2, 1, 4, 1]],
    ["rows by column", [6, 5], [6, 1]],
    ["large, channel vector (threaded)", [4, 32, 32, 64], [64]],
    ["large, same shape (threaded)", [300, 301], [300, 301]]
  ]
  for (const [name, as, bs] of broadcastCases) {
    it(`binary ops (Add, Sub, Multiply, RealDiv, SquaredDifference, Maximum, Minimum): ${name} (max abs diff 0)`, () => {
      const r = compare(() => {
        const a = rand(as, 6),
          b = tf.add(rand(bs, 7), 2)
        return [tf.add(a, b), tf.sub(a, b), tf.mul(a, b), tf.div(a, b), tf.squaredDifference(a, b), tf.maximum(a, b), tf.minimum(a, b)]
      })
      expect(r.maxAbsDiff).toBeLessThanOrEqual(1e-6)
    })
  }

  it("unary ops: Relu, Step (relu gradient), Square, Neg, Sqrt, Rsqrt, Exp, Log, Abs (relative diff < 1e-6)", () => {
    const r = compare(() => {
      const x = rand([5, 7, 11], 8),
        pos = tf.add(tf.abs(x), 0.5)
      const dRelu = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.relu(t), 3)))(x)
      return [
        tf.relu(x),
        dRelu,
        tf.square(x),
        tf.neg(x),
        tf.sqrt(pos),
        tf.rsqrt(pos),
        tf.exp(x),
        tf.log(pos),
        tf.abs(x),
        tf.relu6(tf.mul(x, 10))
      ]
    })
    expect(r.maxAbsDiff).toBeLessThan(1e-6 * Math.max(1, r.maxAbs))
  })

  const reduceCases: Array<[string, Array<number>, number | Array<number> | null, boolean]> = [
    ["batch-norm axes [0, 1, 2]", [4, 6, 6, 8], [0, 1, 2], false],
    ["global pool axes [1, 2]", [4, 6, 6, 8], [1, 2], false],
    ["last axis, keepDims", [9, 13], -1, true],
    ["first axis", [9, 13], 0, false],
    ["all axes", [3, 4, 5], null, false],
    ["large (threaded)", [32, 32, 32, 16], [0, 1, 2], true]
  ]
  for (const [name, xs, axis, keep] of reduceCases) {
    it(`Sum, Mean, Max, Min over ${name} (max abs diff < 1e-4)`, () => {
      const r = compare(() => {
        const x = rand(xs, 9)
        const ax = axis ?? undefined
        return [tf.sum(x, ax, keep), tf.mean(x, ax, keep), tf.max(x, ax, keep), tf.min(x, ax, keep)]
      })
      expect(r.maxAbsDiff).toBeLessThan(1e-4)
    })
  }

  it("TopK (k 1, 6, 64; ties; odd sizes): same values and indices as the stock kernel (max abs diff 0)", () => {
    const r = compare(() => {
      const x = rand([37, 301], 30)
      const ties = tf.tensor2d([
        [1, 3, 3, 2, 3, 0],
        [5, 5, 5, 5, 5, 5]
      ])
      return [x, ties].flatMap((t) =>
        [1, 3, 6, 64]
          .filter((k) => k <= t.shape[1]!)
          .flatMap((k) => {
            const { values, indices } = tf.topk(t, k)
            return [values, tf.cast(indices, "float32")]
          })
      )
    })
    expect(r.maxAbsDiff).toBe(0)
  })

  it("TopK of a tensor holding NaN: the stock kernel's answer (the addon notes NaN in its pass and hands over)", () => {
    const r = compare(() => {
      const x = tf.tensor2d([
        [1, Number.NaN, 3, 2],
        [4, 0, -1, 5],
        [Number.NaN, Number.NaN, 0, 1]
      ])
      return [1, 2, 4].flatMap((k) => {
        const { values, indices } = tf.topk(x, k)
        // NaN compares unequal to itself: mark it so the comparison sees where the stock kernel put it
        return [tf.where(tf.isNaN(values), tf.fill(values.shape, -999), values), tf.cast(indices, "float32")]
      })
    })
    expect(r.maxAbsDiff).toBe(0)
    expect(r.maxAbs).toBe(999)
  })

  it("Tile (max abs diff 0)", () => {
    const r = compare(() => [
      tf.tile(rand([2, 3, 4], 10), [2, 1, 3]),
      tf.tile(rand([1, 1, 1, 5], 11), [2, 3, 4, 1]),
      tf.tile(rand([7], 12), [3])
    ])
    expect(r.maxAbsDiff).toBe(0)
  })

  it("tf.batchNorm (FusedBatchNorm) with per-channel and scalar parameters (max abs diff < 1e-5)", () => {
    const r = compare(() => {
      const x = rand([2, 5, 5, 6], 13)
      const mean = rand([6], 14),
        variance = tf.add(tf.abs(rand([6], 15)), 0.1)
      return [
        tf.batchNorm(x, mean, variance, rand([6], 16), rand([6], 17), 1e-5),
        tf.batchNorm(x, mean, variance, undefined, undefined, 1e-3),
        tf.batchNorm(x, tf.scalar(0.5), tf.scalar(2), tf.scalar(1), tf.scalar(3), 1e-5)
      ]
    })
    expect(r.maxAbsDiff).toBeLessThan(1e-5)
  })

  it("nativeBatchNorm equals moments + batchNorm in value and in dx, dgamma, dbeta (max abs diff < 1e-4)", () => {
    const xs = [4, 6, 6, 8]
    const reference = tf.tidy(() => {
      unregisterNativeKernels()
      const x = rand(xs, 18),
        g = rand([8], 19),
        b = rand([8], 20),
        probe = rand(xs, 21)
      const f = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => {
        const { mean, variance } = tf.moments(xx, [0, 1, 2])
        return tf.sum(tf.mul(tf.batchNorm(xx, mean, variance, bb, gg, 1e-5), probe))
      }
      const { mean, variance } = tf.moments(x, [0, 1, 2])
      return [tf.batchNorm(x, mean, variance, b, g, 1e-5), mean, variance, ...tf.grads(f)([x, g, b])].map((t) => t.dataSync())
    })
    registerNativeKernels()
    const before = tf.memory().numTensors
    const native = tf.tidy(() => {
      const x = rand(xs, 18),
        g = rand([8], 19),
        b = rand([8], 20),
        probe = rand(xs, 21)
      const f = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(nativeBatchNorm(xx, gg, bb, 1e-5).y, probe))
      const { y, mean, variance } = nativeBatchNorm(x, g, b, 1e-5)
      return [y, mean, variance, ...tf.grads(f)([x, g, b])].map((t) => t.dataSync())
    })
    expect(tf.memory().numTensors).toBe(before)
    let maxAbsDiff = 0
    reference.forEach((r, j) => r.forEach((v, i) => (maxAbsDiff = Math.max(maxAbsDiff, Math.abs(v - native[j]![i]!)))))
    expect(maxAbsDiff).toBeLessThan(1e-4)
  })

  it("int32 and bool inputs go to the stock kernels", () => {
    registerNativeKernels()
    expect(Array.from(tf.add(tf.tensor([1, 2], [2], "int32"), tf.tensor([3], [1], "int32")).dataSync())).toEqual([4, 5])
    expect(tf.add(tf.tensor([1, 2], [2], "int32"), tf.tensor([3], [1], "int32")).dtype).toBe("int32")
    expect(Array.from(tf.sum(tf.tensor([1, 2, 3], [3], "int32")).dataSync())).toEqual([6])
    expect(Array.from(tf.mul(tf.tensor([true, false], [2], "bool"), tf.tensor([2, 2], [2], "int32")).dataSync())).toEqual([2, 0])
  })

  it("leaks no tensors through a conv + batch-norm training step", () => {
    registerNativeKernels()
    const x = rand([2, 8, 8, 3], 22),
      w = tf.variable(rand([3, 3, 3, 4], 23))
    const g = tf.variable(tf.ones([4])),
      b = tf.variable(tf.zeros([4]))
    const before = tf.memory().numTensors
    const { value, grads } = tf.variableGrads(
      () => tf.mean(tf.relu(nativeBatchNorm(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, "same"), g, b, 1e-5).y)) as tf.Scalar
    )
    tf.dispose([value, ...Object.values(grads)])
    expect(tf.memory().numTensors).toBe(before)
    tf.dispose([x, w, g, b])
  })
})

describe("without the addon", () => {
  it("the package loads, registration reports why, and hasNativeKernel says false (BINGO_NATIVE_DISABLE=1 stands in for a missing build)", async () => {
    await tf.setBackend("cpu")
    const previous = process.env.BINGO_NATIVE_DISABLE
    process.env.BINGO_NATIVE_DISABLE = "1"
    try {
      unregisterNativeKernels()
      expect(registerNativeKernels()).toEqual({ error: "disabled by BINGO_NATIVE_DISABLE=1" })
      expect([hasNativeKernel(CONV2D), hasNativeKernel(BATCH_NORM_TRAIN), nativeKernelsRegistered()]).toEqual([false, false, false])
    } finally {
      if (previous === undefined) delete process.env.BINGO_NATIVE_DISABLE
      else process.env.BINGO_NATIVE_DISABLE = previous
    }
  })
})
