import * as tf from "@tensorflow/tfjs"
import { Rng, selectBackend } from "@bingo/runtime"
import { beforeAll, describe, expect, it } from "vitest"
import { createEncoder, disposeEncoder, embed, encoderTrainableVariables } from "../src/Encoder.ts"
import { listBackbones } from "../src/registry.ts"

// One process per test file (vitest forks pool): this file alone switches to wasm.
beforeAll(async () => {
  const sel = await selectBackend("wasm")
  if ("error" in sel) throw new Error(sel.error)
})

describe("training on the wasm backend (no stock Conv2DBackpropFilter there)", () => {
  for (const name of listBackbones()) {
    it(`${name}: one SGD step runs, changes the weights and leaks nothing`, () => {
      const enc = createEncoder(
        { backbone: name, inputShape: [16, 16, 3], widthMultiplier: name.startsWith("resnet") ? 0.125 : 0.5, headHidden: 16, embeddingDim: 8, stem: "imagenet" },
        Rng.fromSeed(0)
      )
      const x = tf.randomUniform([4, 16, 16, 3], 0, 1, "float32", 1) as tf.Tensor4D
      const vars = encoderTrainableVariables(enc)
      const first = vars[0]!.dataSync().slice()
      const opt = tf.train.sgd(0.1)
      const before = tf.memory().numTensors
      const loss = opt.minimize(() => embed(enc, x, "train").slice([0, 0], [4, 1]).sum() as tf.Scalar, true, vars)!
      expect(Number.isFinite(loss.dataSync()[0])).toBe(true)
      loss.dispose()
      expect(tf.memory().numTensors).toBe(before)
      expect(Array.from(vars[0]!.dataSync())).not.toEqual(Array.from(first))
      opt.dispose()
      x.dispose()
      disposeEncoder(enc)
    })
  }
})
