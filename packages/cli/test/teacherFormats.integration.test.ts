import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { existsSync, mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { failureOf } from "@bingo/runtime"
import { decodeConfig } from "../src/loadConfig.ts"
import { runCli } from "../src/runCli.ts"
import { pipelineLayer, type PipelineResult, runPipeline } from "../src/runPipeline.ts"

/** The ONNX fixture of @bingo/teacher (PyTorch export: ResNet-18 at 1/16 width, 16x16x3 NCHW, outputs features [N, 32], embedding [N, 16]). */
const onnxTeacher = join(import.meta.dirname, "../../teacher/test/fixtures/resnet18_tiny.onnx")

/** A tiny run on 3-channel shapes: every stage runs for real, in seconds. */
const tinyConfig = (teacher: Record<string, unknown>) => ({
  name: "tiny-onnx",
  backend: "wasm",
  outDir: "out",
  dataset: { name: "shapes", options: { trainSize: 128, testSize: 64, size: 16, channels: 3, seed: 0 } },
  augment: { outputSize: 16 },
  teacher,
  bags: { method: "knn", k: 5 },
  student: { backbone: "mlp", widthMultiplier: 0.25, headHidden: 32, embeddingDim: 16 },
  distill: { epochs: 2, batchSize: 32, queueSize: 64 },
  eval: { knn: { k: 10 }, linear: { epochs: 5 } }
})

const onnxSection = {
  weightsFormat: "onnx",
  weights: onnxTeacher,
  featureOutput: "features",
  embeddingOutput: "embedding",
  input: { layout: "NCHW", mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] }
}

describe("pipeline with a teacher model file (ONNX, TF.js)", () => {
  it.effect(
    "an ONNX teacher (onnxruntime-node) embeds the data for the bags and keys every step; the student trains in TF.js, is evaluated and exported; a re-run resumes",
    () =>
      Effect.gen(function* () {
        const dir = mkdtempSync(join(tmpdir(), "bingo-onnx-pipeline-"))
        const config = yield* decodeConfig(tinyConfig(onnxSection), "tiny-onnx.yaml")
        const run = Effect.scoped(runPipeline(config, dir)).pipe(Effect.provide(pipelineLayer(config, dir)))
        const result: PipelineResult = yield* run
        for (const f of ["bags.npy", "checkpoint.safetensors", "student.safetensors", "student-tfjs/model.json", "results.json"]) {
          expect(existsSync(join(dir, "out", f)), f).toBe(true)
        }
        // nothing pre-trained here: the teacher is the file
        expect(existsSync(join(dir, "out", "teacher.safetensors"))).toBe(false)
        expect(result.teacherPretraining).toEqual([])
        // no random-init teacher row: bingo cannot re-initialise an ONNX graph
        expect(result.rows.map((r) => r.model)).toEqual(["student (bingo)", "student (random init)", "teacher"])
        expect(result.rows[2]).toMatchObject({ backbone: "resnet18_tiny.onnx", params: 45_576 })
        expect(result.distillLosses).toHaveLength(2)
        expect(result.distillLosses.every(Number.isFinite)).toBe(true)
        // the teacher's keys reached the loss: the teacher's embeddings are watched every step
        expect(result.distillEpochs[0]!.embeddings["teacher"]!.spread).toBeGreaterThan(0)
        const written = JSON.parse(readFileSync(join(dir, "out", "results.json"), "utf8")) as PipelineResult
        expect(written.rows).toEqual(result.rows)
        // the checkpoint's fingerprint holds the ONNX file's: the second run resumes the finished stage
        const again: PipelineResult = yield* run
        expect(again.distillLosses).toEqual(result.distillLosses)
        expect(again.rows[0]!.scores).toEqual(result.rows[0]!.scores)
      }),
    120_000
  )

  it.effect(
    "a TF.js teacher: the student a previous run exported (<outDir>/student-tfjs/) is the teacher of a new student",
    () =>
      Effect.gen(function* () {
        const dir = mkdtempSync(join(tmpdir(), "bingo-tfjs-pipeline-"))
        // run 1: a student distilled from the ONNX teacher, exported as a TF.js layers model
        const first = yield* decodeConfig(
          { ...tinyConfig(onnxSection), outDir: "run1", eval: { ...tinyConfig({}).eval, randomBaseline: false, teacher: false } },
          "run1.yaml"
        )
        const run1: PipelineResult = yield* Effect.scoped(runPipeline(first, dir)).pipe(Effect.provide(pipelineLayer(first, dir)))
        // run 2: that student is the teacher (outputs by layer name; its recorded preprocessing is the input's default)
        const second = yield* decodeConfig(
          {
            ...tinyConfig({
              weightsFormat: "tfjs",
              weights: "run1/student-tfjs/model.json",
              featureOutput: "features",
              embeddingOutput: "embedding"
            }),
            outDir: "run2",
            student: { backbone: "mlp", widthMultiplier: 0.125, headHidden: 16, embeddingDim: 16 }
          },
          "run2.yaml"
        )
        const run2: PipelineResult = yield* Effect.scoped(runPipeline(second, dir)).pipe(Effect.provide(pipelineLayer(second, dir)))
        expect(run2.rows.map((r) => r.model)).toEqual(["student (bingo)", "student (random init)", "teacher"])
        expect(run2.rows[2]).toMatchObject({ backbone: "student-tfjs/model.json" })
        expect(run2.distillLosses.every(Number.isFinite)).toBe(true)
        expect(existsSync(join(dir, "run2", "student-tfjs", "model.json"))).toBe(true)
        // the teacher's features are run 1's student's (through its TF.js export): the same kNN accuracy, to one test image
        expect(Math.abs(run2.rows[2]!.scores.knnTop1 - run1.rows[0]!.scores.knnTop1)).toBeLessThanOrEqual(1 / 64 + 1e-9)
      }),
    120_000
  )

  it.effect("bingo teachers lists every teacher format, what runs it and its keys", () =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      const log = console.log
      console.log = (text: string) => void lines.push(text)
      const code = yield* Effect.promise(() => runCli(["teachers"], { log: false })).pipe(
        Effect.ensuring(Effect.sync(() => (console.log = log)))
      )
      expect(code).toBe(0)
      const text = lines.join("\n")
      for (const format of ["bingo", "torchvision", "onnx", "tfjs"]) expect(text).toMatch(new RegExp(`^${format} `, "m"))
      expect(text).toContain("runs in: onnxruntime-node (CPU; optional dependency)")
      expect(text).toContain("featureOutput*: ")
    })
  )

  it.effect("config: each format's keys are checked against it, naming the key", () =>
    Effect.gen(function* () {
      const reason = (teacher: Record<string, unknown>) =>
        Effect.map(
          Effect.exit(decodeConfig(tinyConfig(teacher), "t.yaml")),
          (e) => (failureOf(e) as { reason?: string } | undefined)?.reason
        )
      const { featureOutput: _f, ...withoutFeatures } = onnxSection
      const { weights: _w, ...withoutWeights } = onnxSection
      expect(yield* reason(withoutFeatures)).toContain("teacher.featureOutput: required for weightsFormat onnx")
      expect(yield* reason(withoutWeights)).toContain("teacher.weights: required for weightsFormat onnx")
      expect(yield* reason({ ...onnxSection, backbone: "resnet18" })).toContain("teacher.backbone: not read by weightsFormat onnx")
      expect(yield* reason({ ...onnxSection, bnMode: "batch-stats" })).toContain("teacher.bnMode: not read by weightsFormat onnx")
      expect(yield* reason({ ...onnxSection, headHidden: 64 })).toContain("teacher.headHidden: not read by weightsFormat onnx")
      expect(yield* reason({ weightsFormat: "bingo", featureOutput: "x", backbone: "mlp" })).toContain(
        "teacher.featureOutput: not read by weightsFormat bingo"
      )
      expect(yield* reason({ weightsFormat: "torchvision", weights: "t.safetensors" })).toContain(
        "teacher.backbone: required for weightsFormat torchvision"
      )
      expect(yield* reason({ ...onnxSection, input: { layout: "NCWH" } })).toContain("teacher.input.layout")
      expect(yield* reason({ weightsFormat: "tfjs", weights: "model.json", featureOutput: "features", stem: "cifar" })).toContain(
        "teacher.stem: not read by weightsFormat tfjs"
      )
    })
  )
})
