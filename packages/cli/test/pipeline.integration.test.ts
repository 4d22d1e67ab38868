import { describe, expect, it } from "@effect/vitest"
import { readMetrics } from "@bingo/training"
import { Effect } from "effect"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { basename, join } from "node:path"
import { makeShapes } from "@bingo/data"
import sharp from "sharp"
import { decodeConfig } from "../src/loadConfig.ts"
import { datasetName, formatPipelineResult, pipelineLayer, runPipeline, type PipelineResult } from "../src/runPipeline.ts"
import { teacherWarnings } from "../src/teacherWarnings.ts"

/** n 16x16 grey shapes as PNG files in class folders under `dir`. */
const writeShapesFolder = async (dir: string, n: number, seed: number) => {
  const shapes = makeShapes({ n, size: 16, channels: 1, seed })
  for (let i = 0; i < n; i++) {
    const classDir = join(dir, shapes.classNames![shapes.labels![i]!]!)
    mkdirSync(classDir, { recursive: true })
    const bytes = Uint8Array.from(shapes.images.subarray(i * 256, (i + 1) * 256), (v) => Math.round(v * 255))
    await sharp(bytes, { raw: { width: 16, height: 16, channels: 1 } })
      .png()
      .toFile(join(classDir, `${i}.png`))
  }
}

/** The whole pipeline on a tiny dataset: every stage runs for real, in well under a minute. */
describe("pipeline (integration)", () => {
  it.effect(
    "pre-trains a teacher, mines bags, distils, evaluates and writes results.json; a re-run reuses the stages",
    () =>
      Effect.gen(function* () {
        const dir = mkdtempSync(join(tmpdir(), "bingo-pipeline-"))
        const config = yield* decodeConfig(
          {
            name: "tiny",
            backend: "wasm",
            outDir: "out",
            dataset: { name: "shapes", options: { trainSize: 256, testSize: 128, size: 16, seed: 0 } },
            augment: { outputSize: 16 },
            teacher: {
              backbone: "convnet-small",
              widthMultiplier: 0.5,
              headHidden: 32,
              embeddingDim: 16,
              pretrain: { epochs: 2, batchSize: 64, queueSize: 256 }
            },
            bags: { method: "knn", k: 5 },
            student: { backbone: "mlp", widthMultiplier: 0.25, headHidden: 32, embeddingDim: 16 },
            distill: { epochs: 2, batchSize: 64, queueSize: 256 },
            eval: { knn: { k: 20 }, linear: { epochs: 10 } }
          },
          "tiny.yaml"
        )
        const run = Effect.scoped(runPipeline(config, dir)).pipe(Effect.provide(pipelineLayer(config, dir)))
        const result: PipelineResult = yield* run
        for (const f of ["teacher.safetensors", "bags.npy", "checkpoint.safetensors", "student.safetensors", "results.json"]) {
          expect(existsSync(join(dir, "out", f))).toBe(true)
        }
        const written = JSON.parse(readFileSync(join(dir, "out", "results.json"), "utf8")) as PipelineResult
        expect(written.rows).toEqual(result.rows)
        // the peak RSS of the process (process.resourceUsage().maxRSS) is reported with the results
        expect(written.peakRssMiB).toBe(result.peakRssMiB)
        expect(result.peakRssMiB).toBeGreaterThan(50)
        expect(result.rows.map((r) => r.model)).toEqual(["student (bingo)", "student (random init)", "teacher", "teacher (random init)"])
        // the teacher is checked against the random networks; whatever the verdict, it is in results.json and the report
        const top1 = (i: number) => ({ knn: result.rows[i]!.scores.knnTop1, linear: result.rows[i]!.scores.linearTop1 })
        expect(result.warnings).toEqual(teacherWarnings({ teacher: top1(2), randomTeacher: top1(3), randomStudent: top1(1) }))
        expect(written.warnings).toEqual(result.warnings)
        for (const w of result.warnings) expect(formatPipelineResult(result)).toContain(`warning: ${w}`)
        expect(result.distillLosses).toHaveLength(2)
        expect(result.distillLosses.every(Number.isFinite)).toBe(true)
        // metrics.jsonl: the linear probe of every evaluated network, one line per epoch (10)
        const probes = readMetrics(join(dir, "out", "metrics.jsonl")).filter((l) => l.type === "probe")
        expect(probes.map((l) => `${l.model}/${l.epoch}`)).toEqual(
          result.rows.flatMap((r) => Array.from({ length: 10 }, (_, e) => `${r.model}/${e}`))
        )
        expect(probes.every((l) => Number.isFinite(l.loss) && l.lr > 0 && l.probe === "linear probe")).toBe(true)
        expect(result.bagPurity).toBeGreaterThan(0.1)
        for (const r of result.rows) {
          expect(r.scores.knnTop1).toBeGreaterThan(0)
          expect(r.scores.linearTop1).toBeGreaterThan(0)
        }
        // a second run finds the teacher, the bags and the finished checkpoint and redoes none of them
        const again: PipelineResult = yield* run
        expect(again.distillLosses).toEqual(result.distillLosses)
        expect(again.rows[0]!.scores).toEqual(result.rows[0]!.scores)
      }),
    120_000
  )

  it.effect(
    "from an image folder streamed from its decoded-image cache (inMemory: false): the same results as in memory",
    () =>
      Effect.gen(function* () {
        const dir = mkdtempSync(join(tmpdir(), "bingo-pipeline-folder-"))
        // 160 train / 64 test shapes as PNG files in class folders
        yield* Effect.promise(() => writeShapesFolder(join(dir, "train"), 160, 1))
        yield* Effect.promise(() => writeShapesFolder(join(dir, "test"), 64, 2))
        const configFor = (outDir: string, inMemory: boolean) =>
          decodeConfig(
            {
              name: "tiny-folder",
              backend: "wasm",
              outDir,
              dataset: {
                name: "folder",
                options: { dir: join(dir, "train"), testDir: join(dir, "test"), size: 16, channels: 1, cache: join(dir, "cache"), inMemory }
              },
              augment: { outputSize: 16 },
              teacher: {
                backbone: "mlp",
                widthMultiplier: 0.25,
                headHidden: 32,
                embeddingDim: 16,
                pretrain: { epochs: 1, batchSize: 32, queueSize: 128 }
              },
              bags: { method: "knn", k: 5 },
              student: { backbone: "mlp", widthMultiplier: 0.25, headHidden: 32, embeddingDim: 16 },
              distill: { epochs: 2, batchSize: 32, queueSize: 128 },
              eval: { knn: { k: 10 }, linear: { epochs: 5 }, randomBaseline: false }
            },
            "tiny-folder.yaml"
          )
        const runWith = (outDir: string, inMemory: boolean) =>
          Effect.gen(function* () {
            const config = yield* configFor(outDir, inMemory)
            return yield* Effect.scoped(runPipeline(config, dir)).pipe(Effect.provide(pipelineLayer(config, dir)))
          })
        const streamed: PipelineResult = yield* runWith("streamed", false)
        expect(readdirSync(join(dir, "cache")).sort()).toEqual(["test-16x16x1-cover.bingoimg", "train-16x16x1-cover.bingoimg"])
        const inMemory: PipelineResult = yield* runWith("in-memory", true)
        // train/ and test/ are split folders: the dataset is named after their parent
        expect(streamed.dataset).toEqual({ name: basename(dir), train: 160, test: 64 })
        expect(streamed.distillLosses.every(Number.isFinite)).toBe(true)
        expect(streamed.distillLosses).toEqual(inMemory.distillLosses)
        expect(streamed.bagPurity).toBe(inMemory.bagPurity)
        expect(streamed.rows.map((r) => r.scores)).toEqual(inMemory.rows.map((r) => r.scores))
      }),
    120_000
  )

  it.effect(
    "unlabelled images (labels: none, no test split): teacher, bags and student train, evaluation is skipped and said so",
    () =>
      Effect.gen(function* () {
        const dir = mkdtempSync(join(tmpdir(), "bingo-pipeline-unlabelled-"))
        yield* Effect.promise(() => writeShapesFolder(join(dir, "images"), 128, 3))
        const config = yield* decodeConfig(
          {
            name: "unlabelled",
            backend: "wasm",
            outDir: "out",
            dataset: { name: "folder", options: { dir: "images", size: 16, channels: 1, labels: "none", cache: "cache", inMemory: false } },
            augment: { outputSize: 16 },
            teacher: {
              backbone: "mlp",
              widthMultiplier: 0.25,
              headHidden: 32,
              embeddingDim: 16,
              pretrain: { epochs: 1, batchSize: 32, queueSize: 64 }
            },
            bags: { method: "knn", k: 5 },
            student: { backbone: "mlp", widthMultiplier: 0.25, headHidden: 32, embeddingDim: 16 },
            distill: { epochs: 1, batchSize: 32, queueSize: 64 }
          },
          "unlabelled.yaml"
        )
        const result: PipelineResult = yield* Effect.scoped(runPipeline(config, dir)).pipe(Effect.provide(pipelineLayer(config, dir)))
        expect(result.rows).toEqual([])
        expect(result.evaluationSkipped).toBe("the training images of 'images' have no labels")
        expect(result.bagPurity).toBeNull()
        expect(result.dataset).toEqual({ name: "images", train: 128, test: 0 })
        expect(result.distillLosses.every(Number.isFinite)).toBe(true)
        for (const f of ["teacher.safetensors", "bags.npy", "student.safetensors", "results.json"])
          expect(existsSync(join(dir, "out", f))).toBe(true)
        expect(formatPipelineResult(result)).toContain("evaluation skipped: the training images of 'images' have no labels")
      }),
    120_000
  )
})

describe("datasetName", () => {
  it.effect("dataset.options.name when given, else the loader's name of the training split, else the registry name", () =>
    Effect.gen(function* () {
      const base = { name: "n", teacher: { backbone: "mlp" }, student: { backbone: "mlp" } }
      const folder = yield* decodeConfig(
        { ...base, dataset: { name: "folder", options: { dir: "data/fashion/train", size: 28 } } },
        "a.yaml"
      )
      expect(datasetName(folder, { name: "fashion" })).toBe("fashion")
      const named = yield* decodeConfig(
        { ...base, dataset: { name: "folder", options: { dir: "data/fashion/train", size: 28, name: "fmnist" } } },
        "a.yaml"
      )
      expect(datasetName(named, { name: "fashion" })).toBe("fmnist")
      const digits = yield* decodeConfig({ ...base, dataset: { name: "digits" } }, "a.yaml")
      expect(datasetName(digits, { name: "" })).toBe("digits")
    })
  )
})
