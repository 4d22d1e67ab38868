import * as tf from "@tensorflow/tfjs"
import { Rng, selectBackend } from "@bingo/runtime"
import { beforeAll, describe, expect, it } from "vitest"
import { createEncoder, disposeEncoder, embed, encoderTrainableVariables } from "../src/Encoder.ts"
import { listBackbones } from "../src/registry.ts"
import { testWidth } from "./setup.ts"

// One process per test file (vitest forks pool): this file alone switches to wasm.
beforeAll(async () => {
  const sel = await selectBackend("wasm")
  if ("error" in sel) throw new Error(sel.error)
})

describe("training on the wasm backend (no stock Conv2DBackpropFilter there)", () => {
  for (const name of listBackbones()) {
    it(`${name}: one SGD step runs, changes the weights and leaks nothing`, () => {
      const enc = createEncoder(
        { backbone: name, inputShape: [16, 16, 3], widthMultiplier: testWidth(name), headHidden: 16, embeddingDim: 8, stem: "imagenet" },
        Rng.fromSeed(0)
      )
      const x = tf.randomUniform([4, 16, 16, 3], 0, 1, "float32", 1) as tf.Tensor4D
      const vars = encoderTrainableVariables(enc)
      // every kernel (conv, depthwise, dense) must receive a gradient
      const kernels = [...enc.params].filter(([n, v]) => v.trainable && n.endsWith(".weight") && v.rank >= 2)
      const initial = kernels.map(([, v]) => v.dataSync().slice())
      const opt = tf.train.sgd(0.1)
      const before = tf.memory().numTensors
      const loss = opt.minimize(() => embed(enc, x, "train").slice([0, 0], [4, 1]).sum() as tf.Scalar, true, vars)!
      expect(Number.isFinite(loss.dataSync()[0])).toBe(true)
      loss.dispose()
      expect(tf.memory().numTensors).toBe(before)
      const unchanged = kernels.filter(([, v], i) => v.dataSync().every((x, j) => x === initial[i]![j])).map(([n]) => n)
      expect(unchanged).toEqual([])
      opt.dispose()
      x.dispose()
      disposeEncoder(enc)
    })
  }
})
