import { describe, expect, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Effect, Layer } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Rng, Runtime } from "@bingo/runtime"
import { createEncoder, disposeEncoder, exportTfjsModel, saveWeights } from "@bingo/backbones"
import { type AugmentConfig, DatasetSource, makeImageDataset } from "@bingo/data"
import { Teacher } from "../src/Teacher.ts"
import {
  formatTeacherFormats,
  listTeacherFormats,
  type TeacherBuild,
  type TeacherFormatName,
  type TeacherSettings,
  teacherConfigProblem,
  teacherFormatNames,
  teacherRegistry
} from "../src/teacherRegistry.ts"

const fixtures = join(import.meta.dirname, "fixtures")
const augment: AugmentConfig = { outputSize: 16, mean: [0.5], std: [0.5] }
const encoder = { backbone: "resnet18", widthMultiplier: 1 / 16, stem: "cifar" as const, headHidden: 32, embeddingDim: 16 }
const base: TeacherSettings = { widthMultiplier: 1, headHidden: 512, embeddingDim: 128, weightsHead: "require", bnMode: "eval" }

/** For each format, the settings of a small teacher of 16x16x3 images: the committed fixtures, or files made here. */
const settingsFor = (format: TeacherFormatName, dir: string) =>
  Effect.gen(function* () {
    switch (format) {
      case "bingo": {
        const e = createEncoder({ ...encoder, inputShape: [16, 16, 3] }, Rng.fromSeed(3), "saved")
        const weights = join(dir, "teacher.safetensors")
        yield* saveWeights(weights, e.params)
        disposeEncoder(e)
        return { ...base, ...encoder, weights } satisfies TeacherSettings
      }
      case "torchvision":
        return { ...base, ...encoder, weights: join(fixtures, "resnet18_tiny.safetensors") } satisfies TeacherSettings
      case "onnx":
        return {
          ...base,
          weights: join(fixtures, "resnet18_tiny.onnx"),
          featureOutput: "features",
          embeddingOutput: "embedding",
          input: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] }
        } satisfies TeacherSettings
      case "tfjs": {
        const e = createEncoder({ ...encoder, inputShape: [16, 16, 3] }, Rng.fromSeed(4), "student")
        yield* exportTfjsModel(e, join(dir, "student-tfjs"))
        disposeEncoder(e)
        return {
          ...base,
          weights: join(dir, "student-tfjs", "model.json"),
          featureOutput: "features",
          embeddingOutput: "embedding"
        } satisfies TeacherSettings
      }
    }
  })

const build = (teacher: TeacherSettings, dir: string): TeacherBuild => ({
  teacher,
  views: { augment, channels: 3 },
  pretrain: {
    moco: { epochs: 1, batchSize: 8, lr: 0.03, momentum: 0.9, weightDecay: 1e-4, queueSize: 16, temperature: 0.2, keyMomentum: 0.99 },
    seed: 0,
    weightsPath: join(dir, "pretrained.safetensors")
  }
})

const pixels = makeImageDataset({
  name: "random",
  size: 5,
  height: 16,
  width: 16,
  channels: 3,
  images: Float32Array.from(
    { length: 5 * 16 * 16 * 3 },
    (
      (rng) => () =>
        rng.uniform(0, 1)
    )(Rng.fromSeed(2))
  )
})

describe("teacher registry", () => {
  for (const format of teacherFormatNames) {
    it.effect(
      `${format}: its layer embeds a dataset and a batch of views (shapes, finite, unit keys), fingerprints itself, and frees every tensor`,
      () =>
        Effect.gen(function* () {
          yield* Effect.scoped(Layer.build(Runtime.layerTest))
          const dir = mkdtempSync(join(tmpdir(), `bingo-registry-${format}-`))
          const settings = yield* settingsFor(format, dir)
          // the settings use only keys the entry reads, and every key it needs
          const given = Object.fromEntries(
            Object.entries(settings).filter(([k, v]) => v !== (base as unknown as Record<string, unknown>)[k])
          )
          expect(teacherConfigProblem(format, given)).toBeUndefined()
          const before = tf.memory().numTensors
          const got = yield* Effect.gen(function* () {
            const teacher = yield* Teacher
            const features = yield* teacher.embedDataset(pixels, augment)
            const views = tf.randomNormal([5, 16, 16, 3], 0, 1, "float32", 1) as tf.Tensor4D
            const keys = yield* teacher.embedKeys(views)
            const normTensor = tf.norm(keys, "euclidean", 1)
            const norms = Array.from(normTensor.dataSync())
            normTensor.dispose()
            const result = { teacher, features, keyShape: keys.shape, norms, fingerprint: teacher.fingerprint() }
            tf.dispose([views, keys])
            expect(teacher.fingerprint()).toBe(result.fingerprint)
            return result
          }).pipe(Effect.provide(teacherRegistry[format].layer(build(settings, dir)).pipe(Layer.provideMerge(DatasetSource.layerTest))))
          expect(got.teacher.format).toBe(format)
          expect(got.teacher.runtime).toBe(format === "onnx" ? "onnxruntime" : "tfjs")
          expect(got.features.dim).toBeGreaterThan(0)
          expect(got.features.values.length).toBe(5 * got.features.dim)
          expect(got.features.values.every(Number.isFinite)).toBe(true)
          expect(got.keyShape).toEqual([5, got.teacher.embeddingDim])
          for (const n of got.norms) expect(n).toBeCloseTo(1, 4)
          expect(got.fingerprint.length).toBeGreaterThan(0)
          expect(tf.memory().numTensors).toBe(before)
        })
    )
  }

  it("teacherConfigProblem: each format's required keys are asked for and keys it does not read are refused, by name", () => {
    expect(teacherConfigProblem("bingo", { backbone: "mlp" })).toBeUndefined()
    expect(teacherConfigProblem("bingo", {})).toBe(
      "teacher.backbone: required for weightsFormat bingo (the teacher pre-trained here): backbone from the backbone registry (bingo backbones)"
    )
    expect(teacherConfigProblem("torchvision", { backbone: "resnet18" })).toMatch(
      /^teacher\.weights: required for weightsFormat torchvision/
    )
    expect(teacherConfigProblem("onnx", { weights: "t.onnx" })).toMatch(/^teacher\.featureOutput: required for weightsFormat onnx/)
    expect(teacherConfigProblem("tfjs", { weights: "model.json", featureOutput: "f", headHidden: 64 })).toBe(
      "teacher.headHidden: not read by weightsFormat tfjs (only by bingo, torchvision)"
    )
    expect(teacherConfigProblem("bingo", { backbone: "mlp", weightsPrefix: "module." })).toBe(
      "teacher.weightsPrefix: not read by weightsFormat bingo (only by torchvision)"
    )
    expect(teacherConfigProblem("onnx", { weights: "t.onnx", featureOutput: "f", bnMode: "batch-stats" })).toBe(
      "teacher.bnMode: not read by weightsFormat onnx (only by bingo, torchvision)"
    )
  })

  it("lists every format with what runs it and the keys it reads (bingo teachers)", () => {
    expect(listTeacherFormats().map((f) => f.name)).toEqual(["bingo", "torchvision", "onnx", "tfjs"])
    const text = formatTeacherFormats()
    for (const f of listTeacherFormats()) {
      expect(text).toContain(`${f.name.padEnd(12)} ${f.description}`)
      expect(text).toContain(`runs in: ${f.runsIn}`)
      for (const field of f.fields) expect(text).toContain(`${field.key}${field.required ? "*" : ""}: ${field.description}`)
    }
  })
})
