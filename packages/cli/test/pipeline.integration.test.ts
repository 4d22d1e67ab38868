import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { existsSync, mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { decodeConfig } from "../src/loadConfig.ts"
import { pipelineLayer, runPipeline, type PipelineResult } from "../src/runPipeline.ts"

/** The whole pipeline on a tiny dataset: every stage runs for real, in well under a minute. */
describe("pipeline (integration)", () => {
  it.effect("pre-trains a teacher, mines bags, distils, evaluates and writes results.json; a re-run reuses the stages", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "bingo-pipeline-"))
      const config = yield* decodeConfig({
        name: "tiny",
        backend: "wasm",
        outDir: "out",
        dataset: { name: "shapes", options: { trainSize: 256, testSize: 128, size: 16, seed: 0 } },
        augment: { outputSize: 16 },
        teacher: { backbone: "convnet-small", widthMultiplier: 0.5, headHidden: 32, embeddingDim: 16, pretrain: { epochs: 2, batchSize: 64, queueSize: 256 } },
        bags: { method: "knn", k: 5 },
        student: { backbone: "mlp", widthMultiplier: 0.25, headHidden: 32, embeddingDim: 16 },
        distill: { epochs: 2, batchSize: 64, queueSize: 256 },
        eval: { knn: { k: 20 }, linear: { epochs: 10 } }
      }, "tiny.yaml")
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
      expect(result.rows.map((r) => r.model)).toEqual(["student (bingo)", "student (random init)", "teacher"])
      expect(result.distillLosses).toHaveLength(2)
      expect(result.distillLosses.every(Number.isFinite)).toBe(true)
      expect(result.bagPurity).toBeGreaterThan(0.1)
      for (const r of result.rows) {
        expect(r.scores.knnTop1).toBeGreaterThan(0)
        expect(r.scores.linearTop1).toBeGreaterThan(0)
      }
      // a second run finds the teacher, the bags and the finished checkpoint and redoes none of them
      const again: PipelineResult = yield* run
      expect(again.distillLosses).toEqual(result.distillLosses)
      expect(again.rows[0]!.scores).toEqual(result.rows[0]!.scores)
    }), 120_000)
})
