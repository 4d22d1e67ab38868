import * as tf from "@tensorflow/tfjs"
import { failureOf, Rng } from "@bingo/runtime"
import { Effect } from "effect"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { cloneEncoder, createEncoder, disposeEncoder, embed, momentumUpdate } from "../src/Encoder.ts"
import { decodeSafetensors, encodeSafetensors } from "../src/safetensors.ts"
import { loadWeights, saveWeights } from "../src/weights.ts"
import { useCpu } from "./setup.ts"

beforeAll(useCpu)

const spec = { backbone: "convnet-small", inputShape: [8, 8, 1] as const, headHidden: 16, embeddingDim: 8 }

describe("safetensors", () => {
  it("round-trips names, shapes, values and metadata, with an 8-byte aligned header", () => {
    const bytes = encodeSafetensors(
      [
        { name: "b", shape: [2], data: Float32Array.from([1.5, -2]) },
        { name: "a", shape: [1, 3], data: Float32Array.from([0, 1, 2]) }
      ],
      { format: "pt" }
    )
    const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true))
    expect((8 + headerLen) % 8).toBe(0)
    const d = decodeSafetensors(bytes)
    expect(d.metadata).toEqual({ format: "pt" })
    expect(Array.from(d.tensors.get("b")!.data)).toEqual([1.5, -2])
    expect(d.tensors.get("a")!.shape).toEqual([1, 3])
  })

  it("rejects a truncated file", () => {
    const bytes = encodeSafetensors([{ name: "a", shape: [4], data: new Float32Array(4) }])
    expect(() => decodeSafetensors(bytes.subarray(0, bytes.length - 4))).toThrow(/data_offsets/)
  })
})

describe("encoder weights", () => {
  it("save then load reproduces the embeddings; wrong shapes name the tensor", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bingo-w-"))
    const a = createEncoder(spec, Rng.fromSeed(1), "a")
    const b = createEncoder(spec, Rng.fromSeed(2), "b")
    const x = tf.randomUniform([3, 8, 8, 1], 0, 1, "float32", 1) as tf.Tensor4D
    await Effect.runPromise(saveWeights(join(dir, "a.safetensors"), a.params))
    await Effect.runPromise(loadWeights(join(dir, "a.safetensors"), b.params))
    const ya = embed(a, x, "eval"),
      yb = embed(b, x, "eval")
    expect(Array.from(yb.dataSync())).toEqual(Array.from(ya.dataSync()))

    const wide = createEncoder({ ...spec, headHidden: 32 }, Rng.fromSeed(3), "wide")
    const exit = await Effect.runPromiseExit(loadWeights(join(dir, "a.safetensors"), wide.params))
    expect(failureOf(exit)).toMatchObject({
      _tag: "WeightShapeMismatch",
      path: join(dir, "a.safetensors"),
      tensor: "head.fc0.weight",
      actual: [64, 16],
      expected: [64, 32]
    })

    writeFileSync(join(dir, "junk.safetensors"), "not a weights file")
    const junk = await Effect.runPromiseExit(loadWeights(join(dir, "junk.safetensors"), b.params))
    expect(failureOf(junk)).toMatchObject({ _tag: "WeightFileError", path: join(dir, "junk.safetensors") })
    tf.dispose([x, ya, yb])
    for (const e of [a, b, wide]) disposeEncoder(e)
  })

  it("momentumUpdate moves the key encoder by (1 - m) towards the query", () => {
    const q = createEncoder(spec, Rng.fromSeed(1), "q")
    const k = cloneEncoder(q, Rng.fromSeed(9), "k")
    const name = "head.fc1.bias"
    const q0 = Array.from(q.params.get(name)!.dataSync())
    q.params.get(name)!.assign(tf.tensor(q0.map((v) => v + 1)))
    momentumUpdate(k, q, 0.9)
    Array.from(k.params.get(name)!.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(q0[i]! + 0.1, 5))
    disposeEncoder(q)
    disposeEncoder(k)
  })
})
