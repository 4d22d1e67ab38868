import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { existsSync, mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { compareLosses } from "../src/compareLosses.ts"
import { decodeConfig } from "../src/loadConfig.ts"

describe("compareLosses", () => {
  it.effect(
    "runs one student per loss on the first run's teacher and bags",
    () =>
      Effect.gen(function* () {
        const dir = mkdtempSync(join(tmpdir(), "bingo-compare-"))
        const config = yield* decodeConfig(
          {
            backend: "wasm",
            outDir: "cmp",
            dataset: { name: "shapes", options: { trainSize: 128, testSize: 64, size: 16, seed: 0 } },
            augment: { outputSize: 16 },
            teacher: {
              backbone: "convnet-small",
              widthMultiplier: 0.5,
              headHidden: 32,
              embeddingDim: 16,
              pretrain: { epochs: 1, batchSize: 64, queueSize: 128 }
            },
            student: { backbone: "mlp", widthMultiplier: 0.25, headHidden: 32, embeddingDim: 16 },
            distill: { epochs: 1, batchSize: 64, queueSize: 128 },
            eval: { knn: { k: 20 }, linear: { epochs: 2 } }
          },
          "cmp.yaml"
        )
        const c = yield* compareLosses(config, dir, ["bingo", "seed"])
        expect(c.rows.map((r) => r.model)).toEqual([
          "student (bingo)",
          "student (random init)",
          "teacher",
          "teacher (random init)",
          "student (seed)"
        ])
        // the second run pre-trained no teacher and mined no bags of its own
        expect(existsSync(join(dir, "cmp", "bingo", "teacher.safetensors"))).toBe(true)
        expect(existsSync(join(dir, "cmp", "seed", "teacher.safetensors"))).toBe(false)
        expect(existsSync(join(dir, "cmp", "seed", "bags.npy"))).toBe(false)
        expect(JSON.parse(readFileSync(join(dir, "cmp", "comparison.json"), "utf8")).losses).toEqual(["bingo", "seed"])
      }),
    120_000
  )
})
