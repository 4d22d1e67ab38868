import * as tf from "@tensorflow/tfjs"
import { BATCH_NORM_TRAIN, CONV2D, hasNativeKernel } from "@bingo/native-cpu"
import { Rng, selectBackend } from "@bingo/runtime"
import { afterAll, describe, expect, it } from "vitest"
import { createBackbone } from "../src/registry.ts"

/**
 * With @bingo/native-cpu's kernels (runtime backend "cpu-native"), `conv2d` runs the stock op
 * natively and `batchNorm` the one-op native batch norm: a training step must match the plain
 * cpu backend (im2col convolutions, batch norm from JS ops). Skipped when the addon is not built.
 */
const probe = await selectBackend("cpu-native")
const skip = "error" in probe ? probe.error : undefined
if (skip !== undefined) console.warn(`[backbones] skipping native cpu test: ${skip}`)

/** Loss, gradients and updated running statistics of one train-mode step of a fresh network. */
const step = (name: string) => {
  const net = createBackbone(name, { inputShape: [12, 12, 3], rng: Rng.fromSeed(7), widthMultiplier: 0.25 })
  const rng = Rng.fromSeed(8)
  const x = tf.tensor4d(
    Float32Array.from({ length: 4 * 12 * 12 * 3 }, () => rng.normal()),
    [4, 12, 12, 3]
  )
  const target = tf.tensor2d(
    Float32Array.from({ length: 4 * net.outputDim }, () => rng.normal()),
    [4, net.outputDim]
  )
  const trainable = [...net.params.values()].filter((v) => v.trainable)
  const { value, grads } = tf.variableGrads(() => tf.losses.meanSquaredError(target, net.apply(x, "train")) as tf.Scalar, trainable)
  const out = {
    loss: value.dataSync()[0]!,
    grads: trainable.map((v) => Float32Array.from(grads[v.name]!.dataSync())),
    stats: [...net.params]
      .filter(([k]) => k.endsWith("running_mean") || k.endsWith("running_var"))
      .map(([, v]) => Float32Array.from(v.dataSync()))
  }
  tf.dispose([value, x, target, ...Object.values(grads)])
  for (const v of net.params.values()) v.dispose()
  return out
}

describe.skipIf(skip !== undefined)("backbones on the native cpu kernels", () => {
  afterAll(() => selectBackend("cpu"))

  for (const name of ["convnet-small", "resnet18"]) {
    it(`${name}: a train step equals the plain cpu backend's (loss to 1e-5, gradients and running stats to 1e-3)`, async () => {
      const stock = await selectBackend("cpu")
      if ("error" in stock) throw new Error(stock.error)
      // the paths conv2d and batchNorm take are chosen by @bingo/native-cpu's predicate
      expect([hasNativeKernel(CONV2D), hasNativeKernel(BATCH_NORM_TRAIN)]).toEqual([false, false])
      const reference = step(name)
      const native = await selectBackend("cpu-native")
      if ("error" in native) throw new Error(native.error)
      expect([hasNativeKernel(CONV2D), hasNativeKernel(BATCH_NORM_TRAIN)]).toEqual([true, true])
      const before = tf.memory().numTensors
      const got = step(name)
      expect(tf.memory().numTensors).toBe(before)
      expect(Math.abs(got.loss - reference.loss)).toBeLessThan(1e-5 * Math.max(1, Math.abs(reference.loss)))
      const maxDiff = (a: Array<Float32Array>, b: Array<Float32Array>) =>
        Math.max(...a.map((t, j) => t.reduce((m, v, i) => Math.max(m, Math.abs(v - b[j]![i]!)), 0)))
      expect(maxDiff(got.grads, reference.grads)).toBeLessThan(1e-3)
      expect(maxDiff(got.stats, reference.stats)).toBeLessThan(1e-4)
    })
  }
})
