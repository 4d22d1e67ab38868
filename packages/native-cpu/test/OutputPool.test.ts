import * as tf from "@tensorflow/tfjs"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD, RELU_GRAD } from "../src/kernels.ts"
import { loadNativeAddon } from "../src/loadAddon.ts"
import { configureOutputPool, outputPoolEnabled, outputPoolStats } from "../src/OutputPool.ts"
import {
  nativeAllocationStats,
  nativeBatchNorm,
  registerNativeKernels,
  resetNativeAllocationStats,
  unregisterNativeKernels
} from "../src/registerNativeKernels.ts"
import { rand } from "./rand.ts"

const loaded = loadNativeAddon()
const skipReason = "error" in loaded ? `native addon unavailable: ${loaded.error}` : ""
if (skipReason !== "") console.warn(`[native-cpu] skipping output pool tests: ${skipReason}`)

const positive = (shape: Array<number>, seed: number): tf.Tensor => tf.tidy(() => tf.add(tf.abs(rand(shape, seed)), 0.5))

/**
 * One call of every native kernel (and its first output's name), from inputs made with `seed`:
 * run twice with different seeds, the second call reuses the first one's freed buffers.
 */
const kernelCases: ReadonlyArray<readonly [string, (seed: number) => tf.Tensor]> = [
  ["BatchMatMul", (s) => tf.matMul(rand([6, 5], s), rand([5, 7], s + 1))],
  ["Conv2D", (s) => tf.conv2d(rand([2, 6, 6, 3], s) as tf.Tensor4D, rand([3, 3, 3, 4], s + 1) as tf.Tensor4D, 1, "same")],
  [
    "Conv2DBackpropInput",
    (s) => tf.conv2dTranspose(rand([2, 6, 6, 4], s) as tf.Tensor4D, rand([3, 3, 3, 4], s + 1) as tf.Tensor4D, [2, 6, 6, 3], 1, "same")
  ],
  [
    "Conv2DBackpropFilter",
    (s) =>
      tf
        .engine()
        .runKernel(
          "Conv2DBackpropFilter",
          { x: rand([2, 6, 6, 3], s), dy: rand([2, 6, 6, 4], s + 1) },
          { strides: [1, 1], pad: "same", dataFormat: "NHWC", filterShape: [3, 3, 3, 4] }
        ) as tf.Tensor
  ],
  [
    "FusedBatchNorm",
    (s) => tf.batchNorm(rand([4, 3, 5], s), rand([5], s + 1), positive([5], s + 2), rand([5], s + 3), rand([5], s + 4), 1e-3)
  ],
  ["Tile", (s) => tf.tile(rand([3, 4], s), [2, 3])],
  ["TopK", (s) => tf.topk(rand([4, 9], s), 3).values],
  ["TopK indices", (s) => tf.tidy(() => tf.topk(rand([4, 9], s), 3).indices)],
  ["Add", (s) => tf.add(rand([4, 5], s), rand([5], s + 1))],
  ["Sub", (s) => tf.sub(rand([4, 5], s), rand([4, 5], s + 1))],
  ["Multiply", (s) => tf.mul(rand([4, 5], s), rand([4, 1], s + 1))],
  ["RealDiv", (s) => tf.div(rand([4, 5], s), positive([4, 5], s + 1))],
  ["SquaredDifference", (s) => tf.squaredDifference(rand([4, 5], s), rand([4, 5], s + 1))],
  ["Maximum", (s) => tf.maximum(rand([4, 5], s), rand([4, 5], s + 1))],
  ["Minimum", (s) => tf.minimum(rand([4, 5], s), rand([4, 5], s + 1))],
  ["Relu", (s) => tf.relu(rand([4, 5], s))],
  ["Relu6", (s) => tf.relu6(tf.mul(rand([4, 5], s), 10))],
  ["Step", (s) => tf.step(rand([4, 5], s), 0.5)],
  ["Square", (s) => tf.square(rand([4, 5], s))],
  ["Neg", (s) => tf.neg(rand([4, 5], s))],
  ["Sqrt", (s) => tf.sqrt(positive([4, 5], s))],
  ["Rsqrt", (s) => tf.rsqrt(positive([4, 5], s))],
  ["Exp", (s) => tf.exp(rand([4, 5], s))],
  ["Log", (s) => tf.log(positive([4, 5], s))],
  ["Abs", (s) => tf.abs(rand([4, 5], s))],
  ["Sum", (s) => tf.sum(rand([4, 5, 6], s), 1)],
  ["Mean", (s) => tf.mean(rand([4, 5, 6], s), [0, 1])],
  ["Max", (s) => tf.max(rand([4, 5, 6], s), 2)],
  ["Min", (s) => tf.min(rand([4, 5, 6], s), 0)],
  [RELU_GRAD, (s) => tf.engine().runKernel(RELU_GRAD, { dy: rand([4, 5], s), x: rand([4, 5], s + 1) }, {}) as tf.Tensor],
  [BATCH_NORM_TRAIN, (s) => nativeBatchNorm(rand([4, 3, 5], s), positive([5], s + 1), rand([5], s + 2), 1e-5).y],
  [
    `${BATCH_NORM_TRAIN} mean`,
    (s) => tf.tidy(() => nativeBatchNorm(rand([4, 3, 5], s), positive([5], s + 1), rand([5], s + 2), 1e-5).mean)
  ],
  [
    BATCH_NORM_TRAIN_GRAD,
    (s) =>
      (
        tf.engine().runKernel(
          BATCH_NORM_TRAIN_GRAD,
          {
            dy: rand([4, 3, 5], s),
            x: rand([4, 3, 5], s + 1),
            gamma: positive([5], s + 2),
            mean: rand([5], s + 3),
            invStd: positive([5], s + 4)
          },
          {}
        ) as Array<tf.Tensor>
      )[0]!
  ]
]

/** `f`'s result inside a tidy that frees every input and intermediate (so their buffers are reusable). */
const run = (f: (seed: number) => tf.Tensor, seed: number): tf.Tensor => tf.tidy(() => f(seed))

/** A copy of the tensor's values, made without the pool's read-out copy (a fresh array either way). */
const valuesOf = (t: tf.Tensor): Array<number> => Array.from(t.dataSync())

/** Values of every kernel case with the pool off: the reference for bit-identity. */
const referenceValues = (seed: number): Map<string, Array<number>> => {
  configureOutputPool({ enabled: false })
  const m = new Map(kernelCases.map(([name, f]) => [name, tf.tidy(() => valuesOf(f(seed)))] as const))
  configureOutputPool({ enabled: true })
  return m
}

describe.skipIf(skipReason !== "")("the native kernels' output pool", () => {
  const wasEnabled = outputPoolEnabled()
  beforeAll(async () => {
    await tf.setBackend("cpu")
    await tf.ready()
    const reg = registerNativeKernels()
    if ("error" in reg) throw new Error(reg.error)
    configureOutputPool({ enabled: true })
  })
  afterEach(() => configureOutputPool({ enabled: true }))
  afterAll(() => {
    configureOutputPool({ enabled: wasEnabled })
    unregisterNativeKernels()
  })

  it("serves every native kernel's outputs from the pool and reuses freed buffers", () => {
    for (const [name, f] of kernelCases) {
      run(f, 1).dispose() // warm: the buffers this case needs are now free
      resetNativeAllocationStats()
      const y = run(f, 2)
      const stats = nativeAllocationStats()
      expect({ name, allocatedBytes: stats.allocatedBytes }).toEqual({ name, allocatedBytes: 0 })
      expect(stats.reusedBytes).toBeGreaterThan(0)
      y.dispose()
    }
  })

  it("gives every kernel bit-identical values with the pool on and off, fresh and reused buffers alike", () => {
    const reference = referenceValues(3)
    for (const [name, f] of kernelCases) {
      run(f, 4).dispose() // leaves buffers with other values in the pool
      expect({ name, values: tf.tidy(() => valuesOf(f(3))) }).toEqual({ name, values: reference.get(name) })
    }
  })

  it("keeps a dataSync() result intact across later calls that reuse the tensor's buffer", () => {
    const reference = referenceValues(5)
    for (const [name, f] of kernelCases) {
      const y = run(f, 5)
      const held = y.dataSync()
      const backendValues = (tf.backend() as unknown as { data: { get: (id: object) => { values: unknown } } }).data.get(y.dataId).values
      expect(held).not.toBe(backendValues) // a copy: the pool may reuse the tensor's own array
      y.dispose()
      for (let s = 6; s < 9; s++) run(f, s).dispose()
      expect({ name, held: Array.from(held) }).toEqual({ name, held: reference.get(name) })
    }
  })

  it("keeps the buffer of a sliced tensor (a subarray view) out of the pool until the slice is disposed", () => {
    for (const [name, f] of kernelCases) {
      const y = run(f, 7)
      const flat = y.reshape([-1])
      const n = flat.size
      // the stock Slice kernel returns a subarray view of y's buffer for a contiguous slice
      const part = tf.slice(flat, [1], [n - 1])
      const expected = valuesOf(part)
      flat.dispose()
      y.dispose()
      for (let s = 8; s < 11; s++) run(f, s).dispose()
      expect({ name, part: valuesOf(part) }).toEqual({ name, part: expected })
      const freeBefore = outputPoolStats().freeBytes
      part.dispose()
      // y's buffer goes back to the pool with the last view of it
      expect(outputPoolStats().freeBytes).toBeGreaterThan(freeBefore)
    }
  })

  it("keeps tensors that outlive their tidy (keep, return, reshape, clone, variables) intact", () => {
    const reference = referenceValues(9)
    for (const [name, f] of kernelCases) {
      let kept: tf.Tensor | undefined
      const returned = tf.tidy(() => {
        const y = f(9)
        kept = tf.keep(y.clone())
        return y.reshape([-1])
      })
      const y = run(f, 9)
      const variable = tf.variable(y, false) // shares y's record
      y.dispose()
      for (let s = 10; s < 13; s++) run(f, s).dispose()
      const want = reference.get(name)
      expect({ name, kept: valuesOf(kept!), returned: valuesOf(returned), variable: valuesOf(variable) }).toEqual({
        name,
        kept: want,
        returned: want,
        variable: want
      })
      tf.dispose([kept!, returned, variable])
    }
  })

  it("leaks no tensor", () => {
    const before = tf.memory().numTensors
    for (const [, f] of kernelCases) for (let s = 0; s < 3; s++) run(f, s).dispose()
    expect(tf.memory().numTensors).toBe(before)
  })

  /**
   * A small ResNet-like network (3x3 conv stem, batch norm in training mode, ReLU, one residual
   * block, a stride-2 conv, global average pool, linear head) trained with SGD on an MSE loss.
   */
  let networks = 0
  const trainResNetLike = (steps: number, onStep?: (step: number) => void): Array<Array<number>> => {
    networks++
    const shapes: Record<string, Array<number>> = {
      stem: [3, 3, 3, 8],
      g0: [8],
      b0: [8],
      conv1: [3, 3, 8, 8],
      g1: [8],
      b1: [8],
      conv2: [3, 3, 8, 8],
      g2: [8],
      b2: [8],
      down: [3, 3, 8, 16],
      g3: [16],
      b3: [16],
      fc: [16, 10]
    }
    const vars = tf.tidy(() =>
      Object.entries(shapes).map(([name, shape], i) =>
        tf.variable(
          name.startsWith("g") ? positive(shape, 100 + i) : tf.mul(rand(shape, 100 + i), 0.3),
          true,
          `pool-test-${networks}-${name}`
        )
      )
    )
    const [stem, g0, b0, conv1, g1, b1, conv2, g2, b2, down, g3, b3, fc] = vars as Array<tf.Variable>
    const x = rand([4, 8, 8, 3], 1) as tf.Tensor4D
    const target = rand([4, 10], 2)
    const bnRelu = (h: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.relu(nativeBatchNorm(h, g, b, 1e-5).y)
    const conv = (h: tf.Tensor, w: tf.Tensor, stride: number) => tf.conv2d(h as tf.Tensor4D, w as tf.Tensor4D, stride, "same")
    for (let step = 0; step < steps; step++) {
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => {
          const h0 = bnRelu(conv(x, stem!, 1), g0!, b0!)
          const h1 = bnRelu(conv(h0, conv1!, 1), g1!, b1!)
          const h2 = tf.relu(tf.add(nativeBatchNorm(conv(h1, conv2!, 1), g2!, b2!, 1e-5).y, h0))
          const h3 = bnRelu(conv(h2, down!, 2), g3!, b3!)
          const out = tf.matMul(tf.mean(h3, [1, 2]) as tf.Tensor2D, fc! as tf.Tensor2D)
          return tf.mean(tf.squaredDifference(out, target)) as tf.Scalar
        }, vars)
        value.dataSync() // the loss read back every step, as the training loop does
        for (const v of vars) v.assign(tf.sub(v, tf.mul(grads[v.name]!, 0.1)))
      })
      onStep?.(step)
    }
    const weights = vars.map((v) => Array.from(v.dataSync()))
    tf.dispose([...vars, x, target])
    return weights
  }

  it("trains a ResNet-like network to bit-identical weights with the pool on and off", () => {
    configureOutputPool({ enabled: false })
    const off = trainResNetLike(4)
    configureOutputPool({ enabled: true })
    const on = trainResNetLike(4)
    expect(on).toEqual(off)
  })

  it("allocates nothing for outputs once a training step is warm (and a buffer per output with the pool off)", () => {
    const perStep = (enabled: boolean): Array<number> => {
      configureOutputPool({ enabled })
      const bytes: Array<number> = []
      resetNativeAllocationStats()
      trainResNetLike(4, () => {
        bytes.push(nativeAllocationStats().allocatedBytes)
        resetNativeAllocationStats()
      })
      return bytes
    }
    const off = perStep(false)
    const on = perStep(true)
    expect(off.every((b) => b > 100_000)).toBe(true)
    expect(on[0]).toBeGreaterThan(0)
    expect(on.slice(1)).toEqual([0, 0, 0])
  })

  it("leaves no tensor behind after training steps with the pool", () => {
    const before = tf.memory().numTensors
    trainResNetLike(2)
    expect(tf.memory().numTensors).toBe(before)
  })
})
