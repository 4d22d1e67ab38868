import { describe, expect, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Effect, Layer } from "effect"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { failureOf, Rng, Runtime } from "@bingo/runtime"
import { createEncoder, disposeEncoder, exportTfjsModel, extractFeatures } from "@bingo/backbones"
import { type AugmentConfig, type ImageDataset, makeImageDataset } from "@bingo/data"
import { Teacher } from "../src/Teacher.ts"
import type { TfjsTeacherOptions } from "../src/tfjsTeacher.ts"

const getTeacher = Effect.gen(function* () {
  return yield* Teacher
})

const withTeacher = <A, E>(teacher: Layer.Layer<Teacher, unknown>, effect: Effect.Effect<A, E, Teacher>) =>
  effect.pipe(Effect.provide(teacher.pipe(Layer.provideMerge(Runtime.layerTest))))

/** Write a model's artifacts as model.json + one weight file, as tfjs-converter and `model.save("file://...")` lay them out. */
const saveToDir = (dir: string, artifacts: tf.io.ModelArtifacts) => {
  mkdirSync(dir, { recursive: true })
  const weights = new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData ?? new ArrayBuffer(0)))
  writeFileSync(join(dir, "group1-shard1of1.bin"), weights)
  const json: tf.io.ModelJSON = {
    modelTopology: artifacts.modelTopology as tf.io.ModelJSON["modelTopology"],
    format: artifacts.format ?? "layers-model",
    generatedBy: "bingo test",
    convertedBy: null,
    weightsManifest: [{ paths: ["./group1-shard1of1.bin"], weights: artifacts.weightSpecs ?? [] }]
  }
  writeFileSync(join(dir, "model.json"), JSON.stringify(json))
  return join(dir, "model.json")
}

const saveLayersModel = async (model: tf.LayersModel, dir: string) => {
  let captured: tf.io.ModelArtifacts | undefined
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      captured = a
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } }
    })
  )
  return saveToDir(dir, captured!)
}

/** Pixels in [0, 1], NHWC, from a seeded RNG. */
const images = (n: number, size: number, channels: number, seed: number): ImageDataset => {
  const rng = Rng.fromSeed(seed)
  return makeImageDataset({
    name: "random",
    size: n,
    height: size,
    width: size,
    channels,
    images: Float32Array.from({ length: n * size * size * channels }, () => rng.uniform(0, 1))
  })
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length)
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!))
  return m
}

/** The run's views in these tests: normalised with mean 0.5, std 0.5 (not the models'). */
const augment8: AugmentConfig = { outputSize: 8, mean: [0.5], std: [0.5] }

describe("Teacher.layerTfjs", () => {
  it.effect(
    "a layers model the test builds and saves: features by layer name (a dense output, or a conv feature map averaged), L2-normalised keys, nothing leaked",
    () =>
      Effect.gen(function* () {
        yield* Effect.scoped(Layer.build(Runtime.layerTest))
        const input = tf.input({ shape: [8, 8, 3], name: "pixels" })
        const conv = tf.layers
          .conv2d({
            filters: 6,
            kernelSize: 3,
            padding: "same",
            activation: "relu",
            name: "conv",
            kernelInitializer: tf.initializers.glorotNormal({ seed: 1 })
          })
          .apply(input) as tf.SymbolicTensor
        const pooled = tf.layers.globalAveragePooling2d({ name: "pooled" }).apply(conv) as tf.SymbolicTensor
        const proj = tf.layers.dense({ units: 4, name: "proj", kernelInitializer: tf.initializers.glorotNormal({ seed: 2 }) }).apply(pooled)
        const model = tf.model({ inputs: input, outputs: proj as tf.SymbolicTensor })
        const path = yield* Effect.promise(() => saveLayersModel(model, mkdtempSync(join(tmpdir(), "bingo-tfjs-layers-"))))
        const data = images(5, 8, 3, 3)
        // what the in-memory model gives on raw pixels
        const reference = tf.model({ inputs: model.inputs, outputs: [pooled, proj as tf.SymbolicTensor] })
        const x = tf.tensor4d(data.images, [5, 8, 8, 3])
        const [refPooled, refProj] = reference.predict(x) as Array<tf.Tensor2D>
        const expectedFeatures = Float32Array.from(refPooled!.dataSync())
        const expectedKeys = Float32Array.from(tf.tidy(() => tf.div(refProj!, tf.norm(refProj!, "euclidean", 1, true))).dataSync())
        tf.dispose([x, refPooled!, refProj!])
        model.dispose()

        const options: TfjsTeacherOptions = {
          weights: path,
          featureOutput: "pooled",
          embeddingOutput: "proj",
          input: { layout: "NHWC", mean: [0], std: [1] },
          views: { augment: augment8, channels: 3 }
        }
        const before = tf.memory().numTensors
        const got = yield* withTeacher(
          Teacher.layerTfjs(options),
          Effect.gen(function* () {
            const teacher = yield* Teacher
            const features = yield* teacher.embedDataset(data, augment8)
            const views = tf.tensor4d(
              data.images.map((p) => (p - 0.5) / 0.5),
              [5, 8, 8, 3]
            )
            const keys = yield* teacher.embedKeys(views)
            const embedding = Float32Array.from(keys.dataSync())
            tf.dispose([keys, views])
            return { teacher, features, embedding }
          })
        )
        expect(got.teacher).toMatchObject({ format: "tfjs", runtime: "tfjs", encoder: undefined, embeddingDim: 4 })
        expect(got.teacher.parameterCount).toBe(3 * 3 * 3 * 6 + 6 + 6 * 4 + 4)
        expect(got.features.dim).toBe(6)
        expect(maxAbsDiff(got.features.values, expectedFeatures)).toBeLessThan(1e-5)
        expect(maxAbsDiff(got.embedding, expectedKeys)).toBeLessThan(1e-5)
        // the model, its sub-models and every intermediate are released with the layer
        expect(tf.memory().numTensors).toBe(before)

        // a 4-D output (the conv layer's feature map) is averaged over its spatial axes: the same as 'pooled'
        const fromMap = yield* withTeacher(
          Teacher.layerTfjs({ ...options, featureOutput: "conv" }),
          Effect.flatMap(getTeacher, (t) => t.embedDataset(data, augment8))
        )
        expect(maxAbsDiff(fromMap.values, expectedFeatures)).toBeLessThan(1e-5)

        // a wrong layer name lists the layers the model has
        const exit = yield* Effect.exit(withTeacher(Teacher.layerTfjs({ ...options, featureOutput: "features" }), getTeacher))
        expect(failureOf(exit)).toMatchObject({
          _tag: "TeacherNameNotFound",
          path,
          field: "teacher.featureOutput",
          name: "features",
          available: ["pixels", "conv", "pooled", "proj"]
        })
      }),
    60_000
  )

  it.effect(
    "a graph model (hand-written model.json: Placeholder, Reshape, MatMul) with a fixed batch of 3: outputs by node name, batches padded",
    () =>
      Effect.gen(function* () {
        const dir = mkdtempSync(join(tmpdir(), "bingo-tfjs-graph-"))
        const rng = Rng.fromSeed(4)
        const w1 = Float32Array.from({ length: 16 * 5 }, () => rng.uniform(0, 1) - 0.5)
        const w2 = Float32Array.from({ length: 5 * 3 }, () => rng.uniform(0, 1) - 0.5)
        const shape = new Int32Array([-1, 16])
        const float = { type: "DT_FLOAT" }
        const node = (name: string, op: string, input: Array<string>, attr: Record<string, unknown> = {}) => ({ name, op, input, attr })
        const path = saveToDir(dir, {
          format: "graph-model",
          modelTopology: {
            node: [
              node("image", "Placeholder", [], {
                dtype: float,
                shape: { shape: { dim: [{ size: "3" }, { size: "4" }, { size: "4" }, { size: "1" }] } }
              }),
              node("flat_shape", "Const", [], {
                dtype: { type: "DT_INT32" },
                value: { tensor: { dtype: "DT_INT32", tensorShape: { dim: [{ size: "2" }] } } }
              }),
              node("flat", "Reshape", ["image", "flat_shape"], { T: float, Tshape: { type: "DT_INT32" } }),
              node("w1", "Const", [], {
                dtype: float,
                value: { tensor: { dtype: "DT_FLOAT", tensorShape: { dim: [{ size: "16" }, { size: "5" }] } } }
              }),
              node("features", "MatMul", ["flat", "w1"], { T: float, transpose_a: { b: false }, transpose_b: { b: false } }),
              node("w2", "Const", [], {
                dtype: float,
                value: { tensor: { dtype: "DT_FLOAT", tensorShape: { dim: [{ size: "5" }, { size: "3" }] } } }
              }),
              node("embedding", "MatMul", ["features", "w2"], { T: float, transpose_a: { b: false }, transpose_b: { b: false } })
            ],
            library: {},
            versions: { producer: 1 }
          },
          weightSpecs: [
            { name: "flat_shape", shape: [2], dtype: "int32" },
            { name: "w1", shape: [16, 5], dtype: "float32" },
            { name: "w2", shape: [5, 3], dtype: "float32" }
          ],
          weightData: new Uint8Array([...new Uint8Array(shape.buffer), ...new Uint8Array(w1.buffer), ...new Uint8Array(w2.buffer)]).buffer
        })
        const data = images(4, 4, 1, 5)
        // features = pixels (flattened) @ w1, embedding = features @ w2, by hand
        const expectedFeatures = new Float32Array(4 * 5)
        const expectedEmbedding = new Float32Array(4 * 3)
        for (let i = 0; i < 4; i++) {
          for (let j = 0; j < 5; j++) for (let k = 0; k < 16; k++) expectedFeatures[i * 5 + j]! += data.images[i * 16 + k]! * w1[k * 5 + j]!
          for (let j = 0; j < 3; j++)
            for (let k = 0; k < 5; k++) expectedEmbedding[i * 3 + j]! += expectedFeatures[i * 5 + k]! * w2[k * 3 + j]!
        }
        const augment4: AugmentConfig = { outputSize: 4, mean: [0.5], std: [0.5] }
        const options: TfjsTeacherOptions = {
          weights: path,
          featureOutput: "features",
          embeddingOutput: "embedding",
          input: { layout: "NHWC", mean: [0], std: [1] },
          views: { augment: augment4, channels: 1 }
        }
        const got = yield* withTeacher(
          Teacher.layerTfjs(options),
          Effect.gen(function* () {
            const teacher = yield* Teacher
            // 4 images through a graph that takes batches of exactly 3: a full batch and a padded one
            const features = yield* teacher.embedDataset(data, augment4)
            const views = tf.tensor4d(
              data.images.map((p) => (p - 0.5) / 0.5),
              [4, 4, 4, 1]
            )
            const keys = yield* teacher.embedKeys(views)
            const embedding = Float32Array.from(keys.dataSync())
            tf.dispose([keys, views])
            return { teacher, features, embedding }
          })
        )
        expect(got.teacher).toMatchObject({ format: "tfjs", embeddingDim: 3, parameterCount: 2 + 80 + 15 })
        expect(maxAbsDiff(got.features.values, expectedFeatures)).toBeLessThan(1e-5)
        const norms = [0, 1, 2, 3].map((i) => Math.hypot(...expectedEmbedding.subarray(i * 3, i * 3 + 3)))
        expect(
          maxAbsDiff(
            got.embedding,
            expectedEmbedding.map((v, i) => v / norms[Math.floor(i / 3)]!)
          )
        ).toBeLessThan(1e-5)
        // node names are checked against the graph's nodes
        const exit = yield* Effect.exit(withTeacher(Teacher.layerTfjs({ ...options, embeddingOutput: "proj" }), getTeacher))
        expect(failureOf(exit)).toMatchObject({
          _tag: "TeacherNameNotFound",
          field: "teacher.embeddingOutput",
          name: "proj",
          available: ["image", "flat_shape", "flat", "w1", "features", "w2", "embedding"]
        })
      })
  )

  it.effect(
    "a student bingo exported (student-tfjs/) as the teacher: its recorded preprocessing is the default; the features equal the encoder's",
    () =>
      Effect.gen(function* () {
        yield* Effect.scoped(Layer.build(Runtime.layerTest))
        const dir = mkdtempSync(join(tmpdir(), "bingo-student-tfjs-"))
        const student = createEncoder(
          { backbone: "convnet-small", inputShape: [8, 8, 1], widthMultiplier: 0.5, headHidden: 16, embeddingDim: 8 },
          Rng.fromSeed(6),
          "student"
        )
        // the student's run normalised its views with 0.3 / 0.2; this run uses 0.5 / 0.5
        const studentView: AugmentConfig = { outputSize: 8, mean: [0.3], std: [0.2] }
        yield* exportTfjsModel(student, dir, { metadata: { preprocessing: { pixelRange: [0, 1], mean: [0.3], std: [0.2] } } })
        const data = images(6, 8, 1, 7)
        const expected = yield* extractFeatures(student, data, studentView)
        disposeEncoder(student)
        const features = yield* withTeacher(
          Teacher.layerTfjs({
            weights: join(dir, "model.json"),
            featureOutput: "features",
            embeddingOutput: "embedding",
            input: { layout: "NHWC" },
            views: { augment: augment8, channels: 1 }
          }),
          Effect.flatMap(getTeacher, (t) => t.embedDataset(data, { outputSize: 8, mean: [0.5], std: [0.5] }))
        )
        expect(maxAbsDiff(features.values, expected.values)).toBeLessThan(1e-5)
      })
  )

  it.effect("an unreadable model is TeacherModelUnreadable naming the file: model.json missing or not JSON, a weight file missing", () =>
    Effect.gen(function* () {
      yield* Effect.scoped(Layer.build(Runtime.layerTest))
      const dir = mkdtempSync(join(tmpdir(), "bingo-tfjs-bad-"))
      const input = tf.input({ shape: [8, 8, 1] })
      const model = tf.model({
        inputs: input,
        outputs: tf.layers
          .globalAveragePooling2d({ name: "pooled" })
          .apply(tf.layers.conv2d({ filters: 2, kernelSize: 1 }).apply(input)) as tf.SymbolicTensor
      })
      const path = yield* Effect.promise(() => saveLayersModel(model, dir))
      model.dispose()
      const options = (weights: string): TfjsTeacherOptions => ({
        weights,
        featureOutput: "pooled",
        input: { layout: "NHWC" },
        views: { augment: augment8, channels: 1 }
      })
      const failure = (weights: string) => Effect.map(Effect.exit(withTeacher(Teacher.layerTfjs(options(weights)), getTeacher)), failureOf)
      expect(yield* failure(join(dir, "nope.json"))).toMatchObject({
        _tag: "TeacherModelUnreadable",
        path: join(dir, "nope.json"),
        field: "teacher.weights"
      })
      const notJson = join(dir, "broken.json")
      writeFileSync(notJson, "{ model")
      expect(yield* failure(notJson)).toMatchObject({ _tag: "TeacherModelUnreadable", path: notJson })
      rmSync(join(dir, "group1-shard1of1.bin"))
      const missing = yield* failure(path)
      expect(missing).toMatchObject({ _tag: "TeacherModelUnreadable", path: join(dir, "group1-shard1of1.bin"), field: "teacher.weights" })
      expect((missing as { message: string }).message).toContain("weight file './group1-shard1of1.bin' listed in model.json: cannot read")
    })
  )
})
