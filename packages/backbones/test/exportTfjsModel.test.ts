import * as tf from "@tensorflow/tfjs"
import { failureOf, Rng } from "@bingo/runtime"
import { Effect } from "effect"
import { mkdtempSync, readdirSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { createEncoder, disposeEncoder, embed, type Encoder, type EncoderSpec, features } from "../src/Encoder.ts"
import { exportTfjsModel } from "../src/exportTfjsModel.ts"
import { listBackbones } from "../src/registry.ts"
import { testWidth, useCpu } from "./setup.ts"

beforeAll(useCpu)

/** Non-trivial batch-norm state, so eval mode differs from train mode and from the defaults. */
const randomiseBatchNorm = (enc: Encoder, rng: Rng) => {
  const draw: Record<string, () => number> = {
    running_mean: () => 0.1 * rng.normal(),
    running_var: () => rng.uniform(0.5, 1.5),
    weight: () => rng.uniform(0.5, 1.5),
    bias: () => 0.1 * rng.normal()
  }
  for (const name of enc.params.keys()) {
    if (!name.endsWith(".running_mean")) continue
    const bn = name.slice(0, -".running_mean".length)
    for (const [suffix, f] of Object.entries(draw)) {
      const v = enc.params.get(`${bn}.${suffix}`)!
      v.assign(tf.tensor(Float32Array.from({ length: v.size }, f), v.shape))
    }
  }
}

/** Load an export the way a user would, from the files alone, with plain tf.loadLayersModel. */
const loadExported = async (dir: string) => {
  const json = JSON.parse(readFileSync(join(dir, "model.json"), "utf8")) as tf.io.ModelJSON
  const group = json.weightsManifest[0]!
  const bin = readFileSync(join(dir, group.paths[0]!))
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: group.weights,
      weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength)
    })
  )
  return { json, model }
}

const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => {
  expect(a.shape).toEqual(b.shape)
  const x = a.dataSync(),
    y = b.dataSync()
  let m = 0
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!))
  return m
}

const cases: Array<{ readonly label: string; readonly spec: EncoderSpec }> = [
  ...listBackbones().map((name) => ({
    label: `${name} (ImageNet stem where it has one)`,
    spec: {
      backbone: name,
      inputShape: [16, 16, 3],
      widthMultiplier: testWidth(name),
      stem: "imagenet",
      headHidden: 16,
      embeddingDim: 8
    } as EncoderSpec
  })),
  {
    label: "resnet18 (CIFAR stem, 1 channel)",
    spec: { backbone: "resnet18", inputShape: [12, 12, 1], widthMultiplier: 0.125, stem: "cifar", headHidden: 16, embeddingDim: 8 }
  }
]

describe("exportTfjsModel: plain tf.loadLayersModel reproduces features and embed in eval mode", () => {
  for (const { label, spec } of cases) {
    it(label, async () => {
      const rng = Rng.fromSeed(7)
      const enc = createEncoder(spec, rng, "student")
      randomiseBatchNorm(enc, rng)
      const dir = mkdtempSync(join(tmpdir(), "bingo-export-"))
      const before = tf.memory().numTensors
      const written = await Effect.runPromise(exportTfjsModel(enc, dir))
      expect(tf.memory().numTensors).toBe(before)
      expect(written.modelPath).toBe(join(dir, "model.json"))

      const { json, model } = await loadExported(dir)
      expect(model.outputNames).toEqual(["features", "embedding"])
      expect((json.userDefinedMetadata as { bingo: { inputShape: Array<number> } }).bingo.inputShape).toEqual([...spec.inputShape])
      const x = tf.randomUniform([3, ...spec.inputShape], -1, 1, "float32", 11) as tf.Tensor4D
      const [f, e] = model.predict(x) as Array<tf.Tensor>
      const fOurs = features(enc, x, "eval")
      const eOurs = embed(enc, x, "eval")
      expect(maxAbsDiff(f!, fOurs)).toBeLessThan(1e-5)
      expect(maxAbsDiff(e!, eOurs)).toBeLessThan(1e-5)
      tf.dispose([x, f!, e!, fOurs, eOurs])
      model.dispose()
      disposeEncoder(enc)
    })
  }
})

describe("exportTfjsModel: files and options", () => {
  const spec: EncoderSpec = { backbone: "convnet-small", inputShape: [8, 8, 1], widthMultiplier: 0.25, headHidden: 8, embeddingDim: 4 }

  it("names the weights by content, replaces an earlier export's weights and keeps user metadata", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bingo-export-"))
    const a = createEncoder(spec, Rng.fromSeed(1), "a")
    const b = createEncoder(spec, Rng.fromSeed(2), "b")
    const first = await Effect.runPromise(exportTfjsModel(a, dir))
    const second = await Effect.runPromise(exportTfjsModel(b, dir, { metadata: { mean: [0.5], std: [0.5] } }))
    expect(second.weightsPath).not.toBe(first.weightsPath)
    expect(readdirSync(dir).sort()).toEqual(["model.json", second.weightsPath.slice(dir.length + 1)].sort())
    const { json, model } = await loadExported(dir)
    expect(json.userDefinedMetadata).toMatchObject({
      mean: [0.5],
      std: [0.5],
      bingo: { backbone: "convnet-small", outputs: ["features", "embedding"] }
    })
    const x = tf.ones([1, 8, 8, 1]) as tf.Tensor4D
    const [, e] = model.predict(x) as Array<tf.Tensor>
    const eOurs = embed(b, x, "eval")
    expect(maxAbsDiff(e!, eOurs)).toBeLessThan(1e-5)
    tf.dispose([x, e!, eOurs])
    model.dispose()
    disposeEncoder(a)
    disposeEncoder(b)
  })

  it("outputs: ['embedding'] gives a single-output model", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bingo-export-"))
    const enc = createEncoder(spec, Rng.fromSeed(1), "a")
    await Effect.runPromise(exportTfjsModel(enc, dir, { outputs: ["embedding"] }))
    const { model } = await loadExported(dir)
    expect(model.outputNames).toEqual(["embedding"])
    const y = model.predict(tf.zeros([2, 8, 8, 1])) as tf.Tensor
    expect(y.shape).toEqual([2, 4])
    y.dispose()
    model.dispose()
    disposeEncoder(enc)
  })

  it("a network without a layer graph is a ModelExportError naming it", async () => {
    const enc = createEncoder(spec, Rng.fromSeed(1), "a")
    const { graph: _graph, ...opaque } = enc.backbone
    const dir = mkdtempSync(join(tmpdir(), "bingo-export-"))
    const exit = await Effect.runPromiseExit(exportTfjsModel({ ...enc, backbone: opaque }, dir))
    expect(failureOf(exit)).toMatchObject({
      _tag: "ModelExportError",
      path: dir,
      reason: expect.stringMatching(/network 'a\.backbone' has no layer graph/)
    })
    disposeEncoder(enc)
  })
})
