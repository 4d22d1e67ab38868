import * as tf from "@tensorflow/tfjs"
import { Rng } from "@bingo/runtime"
import { centerView, inMemoryStore, makeShapes } from "@bingo/data"
import { Effect } from "effect"
import { beforeAll, describe, expect, it } from "vitest"
import { createEncoder, disposeEncoder, features } from "../src/Encoder.ts"
import { extractFeatures } from "../src/extractFeatures.ts"
import { useCpu } from "./setup.ts"

beforeAll(useCpu)

describe("extractFeatures", () => {
  it("gives the backbone's eval-mode features of every center view, the same whether the images come in one piece or in chunks from a store", async () => {
    // 4,100 images: more than one 4,096-image chunk when read from a store
    const ds = makeShapes({ n: 4100, size: 8, seed: 3 })
    const encoder = createEncoder({ backbone: "mlp", inputShape: [8, 8, 1], headHidden: 8, embeddingDim: 4 }, Rng.fromSeed(1), "enc")
    const view = { outputSize: 8 }
    const before = tf.memory().numTensors
    const whole = await Effect.runPromise(extractFeatures(encoder, ds, view))
    const chunked = await Effect.runPromise(extractFeatures(encoder, inMemoryStore(ds), view))
    expect(tf.memory().numTensors).toBe(before)
    expect(whole.dim).toBe(encoder.backbone.outputDim)
    expect(whole.values.length).toBe(4100 * whole.dim)
    expect(chunked.dim).toBe(whole.dim)
    expect(Array.from(chunked.values)).toEqual(Array.from(whole.values))
    // the last image's row is its own center view through the backbone
    const last = tf.tidy(() => features(encoder, tf.tensor4d(centerView(ds, [4099], view), [1, 8, 8, 1]), "eval").dataSync())
    expect(Array.from(whole.values.subarray(4099 * whole.dim))).toEqual(Array.from(last))
    disposeEncoder(encoder)
  })
})
