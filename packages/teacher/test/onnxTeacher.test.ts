import { describe, expect, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Effect, Layer } from "effect"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { failureOf, Runtime } from "@bingo/runtime"
import { readWeights } from "@bingo/backbones"
import { type AugmentConfig, makeImageDataset, resolveAugmentConfig } from "@bingo/data"
import { onnxInitializerValues } from "../src/internal/onnxInitializers.ts"
import type { OnnxTeacherOptions } from "../src/onnxTeacher.ts"
import { Teacher } from "../src/Teacher.ts"

// made by test/fixtures/export_onnx.py with PyTorch 1.13 (Debian python3-torch): a MoCo-style
// ResNet-18 at 1/16 width, CIFAR stem, 16x16x3 NCHW input normalised with ImageNet's mean / std,
// outputs `features` [N, 32] and `embedding` [N, 16]; plus PyTorch's outputs for 4 fixed images
const fixtures = join(import.meta.dirname, "fixtures")
const onnxPath = join(fixtures, "resnet18_tiny.onnx")
const imagenet = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] }
/** bingo's own view normalisation in these tests: not the model's, so the conversion is exercised. */
const augment: AugmentConfig = { outputSize: 16, mean: [0.5], std: [0.5] }

const onnxOptions = (overrides: Partial<OnnxTeacherOptions> = {}): OnnxTeacherOptions => ({
  weights: onnxPath,
  featureOutput: "features",
  embeddingOutput: "embedding",
  input: { layout: "NCHW", ...imagenet },
  views: { augment, channels: 3 },
  ...overrides
})

const getTeacher = Effect.gen(function* () {
  return yield* Teacher
})

const withTeacher = <A, E>(teacher: Layer.Layer<Teacher, unknown>, effect: Effect.Effect<A, E, Teacher>) =>
  effect.pipe(Effect.provide(teacher.pipe(Layer.provideMerge(Runtime.layerTest))))

/** The fixture's 4 images (pixels in [0, 1]) and PyTorch's outputs. */
const reference = Effect.gen(function* () {
  const io = yield* readWeights(join(fixtures, "resnet18_tiny.io.safetensors"))
  const pixels = io.tensors.get("pixels")!
  return {
    images: makeImageDataset({ name: "fixture", size: 4, height: 16, width: 16, channels: 3, images: Float32Array.from(pixels.data) }),
    features: Float32Array.from(io.tensors.get("features")!.data),
    embedding: Float32Array.from(io.tensors.get("embedding")!.data)
  }
})

/** The images as bingo's views: normalised with the run's mean and std, NHWC. */
const viewsOf = (pixels: Float32Array) => {
  const v = resolveAugmentConfig(augment)
  return tf.tensor4d(
    pixels.map((p) => (p - v.mean[0]!) / v.std[0]!),
    [4, 16, 16, 3]
  )
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length)
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!))
  return m
}

const l2Rows = (x: Float32Array, dim: number) => {
  const out = new Float32Array(x.length)
  for (let r = 0; r < x.length / dim; r++) {
    let n = 0
    for (let j = 0; j < dim; j++) n += x[r * dim + j]! ** 2
    for (let j = 0; j < dim; j++) out[r * dim + j] = x[r * dim + j]! / Math.sqrt(n)
  }
  return out
}

describe("Teacher.layerOnnx", () => {
  it.effect(
    "embeds like PyTorch to 1e-4: features (embedDataset) and L2-normalised embeddings (embedKeys), views converted to the model's normalisation and NCHW",
    () =>
      Effect.gen(function* () {
        const ref = yield* reference
        const got = yield* withTeacher(
          Teacher.layerOnnx(onnxOptions()),
          Effect.gen(function* () {
            const teacher = yield* Teacher
            const features = yield* teacher.embedDataset(ref.images, augment)
            const views = viewsOf(ref.images.images)
            const before = tf.memory().numTensors
            const keys = yield* teacher.embedKeys(views)
            const embedding = Float32Array.from(keys.dataSync())
            keys.dispose()
            views.dispose()
            return { teacher, features, embedding, leaked: tf.memory().numTensors - (before - 1) }
          })
        )
        expect(got.features.dim).toBe(32)
        expect(maxAbsDiff(got.features.values, ref.features)).toBeLessThan(1e-4)
        expect(maxAbsDiff(got.embedding, l2Rows(ref.embedding, 16))).toBeLessThan(1e-4)
        expect(got.leaked).toBe(0)
        expect(got.teacher).toMatchObject({ format: "onnx", runtime: "onnxruntime", encoder: undefined, embeddingDim: 16 })
        // the params column counts every weight stored in the graph (45,576: BN folded into the convolutions by the export)
        expect(got.teacher.parameterCount).toBe(45_576)
        expect(got.teacher.fingerprint()).toMatch(/^onnx [0-9a-f]{8} /)
      })
  )

  it.effect("the same network in TF.js (the same weights as a torchvision .safetensors) gives the same features", () =>
    Effect.gen(function* () {
      const ref = yield* reference
      const features = yield* withTeacher(
        Teacher.layerPretrained({
          spec: { backbone: "resnet18", inputShape: [16, 16, 3], widthMultiplier: 1 / 16, stem: "cifar", headHidden: 32, embeddingDim: 16 },
          weights: join(fixtures, "resnet18_tiny.safetensors"),
          format: "torchvision"
        }),
        Effect.gen(function* () {
          return yield* (yield* Teacher).embedDataset(ref.images, { ...augment, ...imagenet })
        })
      )
      expect(maxAbsDiff(features.values, ref.features)).toBeLessThan(1e-4)
    })
  )

  it.effect("grey images are repeated to the model's 3 channels; a model with a fixed batch runs padded batches", () =>
    Effect.gen(function* () {
      const ref = yield* reference
      // one channel of the fixture's images, and the same channel repeated three times
      const grey = new Float32Array(4 * 256)
      for (let i = 0; i < grey.length; i++) grey[i] = ref.images.images[3 * i]!
      const rgb = new Float32Array(4 * 256 * 3)
      for (let i = 0; i < rgb.length; i++) rgb[i] = grey[Math.floor(i / 3)]!
      const greyImages = makeImageDataset({ name: "grey", size: 4, height: 16, width: 16, channels: 1, images: grey })
      const rgbImages = makeImageDataset({ name: "rgb", size: 4, height: 16, width: 16, channels: 3, images: rgb })
      const fromGrey = yield* withTeacher(
        Teacher.layerOnnx(onnxOptions({ views: { augment, channels: 1 } })),
        Effect.flatMap(getTeacher, (t) => t.embedDataset(greyImages, augment))
      )
      const fromRgb = yield* withTeacher(
        Teacher.layerOnnx(onnxOptions()),
        Effect.flatMap(getTeacher, (t) => t.embedDataset(rgbImages, augment))
      )
      expect(maxAbsDiff(fromGrey.values, fromRgb.values)).toBeLessThan(1e-5)
    })
  )

  it.effect("a wrong output name is TeacherNameNotFound naming the file, the key and the outputs the model has", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(withTeacher(Teacher.layerOnnx(onnxOptions({ featureOutput: "pooled" })), getTeacher))
      expect(failureOf(exit)).toMatchObject({
        _tag: "TeacherNameNotFound",
        path: onnxPath,
        field: "teacher.featureOutput",
        name: "pooled",
        available: ["features", "embedding"]
      })
      const exit2 = yield* Effect.exit(withTeacher(Teacher.layerOnnx(onnxOptions({ embeddingOutput: "proj" })), getTeacher))
      expect(failureOf(exit2)).toMatchObject({ _tag: "TeacherNameNotFound", field: "teacher.embeddingOutput", name: "proj" })
    })
  )

  it.effect("shape mismatches are TeacherShapeMismatch naming the file and the key to change", () =>
    Effect.gen(function* () {
      const failure = (options: OnnxTeacherOptions) =>
        Effect.map(Effect.exit(withTeacher(Teacher.layerOnnx(options), getTeacher)), failureOf)
      // the model takes 16x16 images
      expect(yield* failure(onnxOptions({ input: { layout: "NCHW", size: 32 } }))).toMatchObject({
        _tag: "TeacherShapeMismatch",
        path: onnxPath,
        field: "teacher.input.size",
        expected: [-1, 3, 16, 16],
        actual: [-1, 3, 32, 32]
      })
      // NHWC would read its 16-wide axis as channels; the channels are on axis 1
      const layout = yield* failure(onnxOptions({ input: { layout: "NHWC" } }))
      expect(layout).toMatchObject({ _tag: "TeacherShapeMismatch", path: onnxPath, field: "teacher.input.layout" })
      expect((layout as { message: string }).message).toContain("is the layout NCHW?")
      // 2-channel data fit neither layout
      expect(yield* failure(onnxOptions({ views: { augment, channels: 2 } }))).toMatchObject({
        _tag: "TeacherShapeMismatch",
        field: "teacher.input",
        actual: [-1, 3, 16, 16]
      })
      // 3 channels, 2 means
      expect(yield* failure(onnxOptions({ input: { layout: "NCHW", mean: [0.5, 0.5], std: [0.5] } }))).toMatchObject({
        _tag: "TeacherShapeMismatch",
        field: "teacher.input.mean"
      })
    })
  )

  it.effect("an unreadable file is TeacherModelUnreadable naming the file and teacher.weights", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "bingo-onnx-"))
      const missing = join(dir, "missing.onnx")
      const notOnnx = join(dir, "teacher.onnx")
      writeFileSync(notOnnx, "this is not a protobuf")
      const truncated = join(dir, "truncated.onnx")
      writeFileSync(truncated, readFileSync(onnxPath).subarray(0, 5000))
      for (const path of [missing, notOnnx, truncated]) {
        const exit = yield* Effect.exit(withTeacher(Teacher.layerOnnx(onnxOptions({ weights: path })), getTeacher))
        expect(failureOf(exit)).toMatchObject({ _tag: "TeacherModelUnreadable", path, field: "teacher.weights" })
      }
    })
  )

  it("onnxInitializerValues counts the graph's stored weights from the protobuf (as python's onnx package does) and refuses garbage", () => {
    expect(onnxInitializerValues(readFileSync(onnxPath))).toBe(45_576)
    expect(onnxInitializerValues(new Uint8Array([0x3a, 0xff]))).toBeUndefined()
  })
})
