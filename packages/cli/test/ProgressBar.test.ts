import { describe, expect, it, vi } from "vitest"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { StepReport } from "@bingo/training"
import { formatEta, formatProgress, ProgressBar } from "../src/progress/ProgressBar.ts"
import { runCli } from "../src/runCli.ts"

const report = (stage: string, epoch: number, step: number, stepsInEpoch: number): StepReport => ({
  stage,
  epoch,
  step,
  stepsInEpoch,
  globalStep: epoch * stepsInEpoch + step + 1,
  lr: 0.01,
  loss: 1,
  gradNorm: 1,
  terms: {},
  embeddings: {}
})

const erase = "\r\u001b[2K"

describe("formatProgress", () => {
  it("draws stage, bar, share, epoch and step, steps/s and img/s, ETA; cut to the width", () => {
    const state = {
      stage: "distillation",
      epoch: 1,
      epochs: 4,
      step: 2,
      stepsInEpoch: 10,
      done: 13,
      total: 40,
      stepsPerSecond: 12.5,
      imagesPerStep: 128
    }
    expect(formatProgress(state, 200)).toBe(
      "distillation [███████░░░░░░░░░░░░░]  32% epoch 2/4 step 3/10 | 12.5 steps/s 1,600 img/s | ETA 0:02"
    )
    expect(formatProgress({ ...state, stepsPerSecond: undefined }, 200)).toBe(
      "distillation [███████░░░░░░░░░░░░░]  32% epoch 2/4 step 3/10 | … steps/s | ETA …"
    )
    expect(formatProgress(state, 30)).toBe("distillation [███████░░░░░░░░░")
    expect([formatEta(5), formatEta(65), formatEta(3723)]).toEqual(["0:05", "1:05", "1:02:03"])
  })
})

describe("ProgressBar", () => {
  it("redraws in place at most every 100 ms with the rate of the last steps and the stage's ETA; its last step erases it; clear and redraw bracket a log line", () => {
    let now = 0
    const out: Array<string> = []
    const bar = new ProgressBar({
      write: (t) => void out.push(t),
      columns: () => 200,
      now: () => now,
      stages: { distillation: { epochs: 2, imagesPerStep: 64 } }
    })
    // 2 epochs of 5 steps, one step every 50 ms
    const steps = [0, 1].flatMap((e) => [0, 1, 2, 3, 4].map((s) => report("distillation", e, s, 5)))
    bar.update(report("unknown stage", 0, 0, 5))
    expect(out).toEqual([])
    for (const [i, r] of steps.entries()) {
      now = 50 * i
      bar.update(r)
      if (i === 6) {
        bar.clear()
        out.push("<log line>\n")
        bar.redraw()
      }
    }
    expect(out).toEqual([
      `${erase}distillation [██░░░░░░░░░░░░░░░░░░]  10% epoch 1/2 step 1/5 | … steps/s | ETA …`,
      // 100 ms later: 2 steps in 100 ms
      `${erase}distillation [██████░░░░░░░░░░░░░░]  30% epoch 1/2 step 3/5 | 20.0 steps/s 1,280 img/s | ETA 0:00`,
      `${erase}distillation [██████████░░░░░░░░░░]  50% epoch 1/2 step 5/5 | 20.0 steps/s 1,280 img/s | ETA 0:00`,
      `${erase}distillation [██████████████░░░░░░]  70% epoch 2/2 step 2/5 | 20.0 steps/s 1,280 img/s | ETA 0:00`,
      erase,
      "<log line>\n",
      `${erase}distillation [██████████████░░░░░░]  70% epoch 2/2 step 2/5 | 20.0 steps/s 1,280 img/s | ETA 0:00`,
      `${erase}distillation [██████████████████░░]  90% epoch 2/2 step 4/5 | 20.0 steps/s 1,280 img/s | ETA 0:00`,
      // the last step: erased, and nothing more to redraw
      erase
    ])
    bar.redraw()
    bar.clear()
    expect(out).toHaveLength(9)
  })
})

describe("bingo run's progress bar", () => {
  const config = (outDir: string) => `
seed: 0
backend: cpu
outDir: ${outDir}
dataset: { name: shapes, options: { trainSize: 128, testSize: 64, size: 16, seed: 0 } }
augment: { outputSize: 16 }
teacher: { backbone: mlp, widthMultiplier: 0.125, headHidden: 16, embeddingDim: 8, pretrain: { epochs: 1, batchSize: 32 } }
bags: { k: 3 }
student: { backbone: mlp, widthMultiplier: 0.125, headHidden: 16, embeddingDim: 8 }
distill: { epochs: 1, batchSize: 32 }
eval: { knn: { k: 10 }, linear: { epochs: 2 }, randomBaseline: false, teacher: false }
`
  it("on a terminal: a bar per training stage, erased when the stage ends; not a terminal (tests, CI, files): nothing but the usual lines", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bingo-progress-"))
    writeFileSync(join(dir, "run.yaml"), config("tty"))
    writeFileSync(join(dir, "plain.yaml"), config("plain"))
    const drawn: Array<string> = []
    const quiet = vi.spyOn(console, "log").mockImplementation(() => undefined)
    const stderr = vi.spyOn(process.stderr, "write")
    try {
      expect(
        await runCli(["run", join(dir, "run.yaml")], { log: false, progress: { write: (t) => void drawn.push(t), columns: () => 120 } })
      ).toBe(0)
      expect(stderr).not.toHaveBeenCalled()
      // this test's stderr is not a TTY: no bar
      expect(process.stderr.isTTY).not.toBe(true)
      expect(await runCli(["run", join(dir, "plain.yaml")], { log: false })).toBe(0)
      expect(stderr).not.toHaveBeenCalled()
    } finally {
      quiet.mockRestore()
      stderr.mockRestore()
    }
    const stages = [...new Set(drawn.filter((d) => d !== erase).map((d) => d.slice(erase.length).split(" [")[0]))]
    expect(stages).toEqual(["teacher pre-training", "distillation"])
    // each stage's first line is drawn at its first step (4 steps of 32 images an epoch), and each stage ends erased
    expect(drawn).toContain(`${erase}teacher pre-training [█████░░░░░░░░░░░░░░░]  25% epoch 1/1 step 1/4 | … steps/s | ETA …`)
    expect(drawn).toContain(`${erase}distillation [█████░░░░░░░░░░░░░░░]  25% epoch 1/1 step 1/4 | … steps/s | ETA …`)
    expect(drawn.at(-1)).toBe(erase)
    expect(drawn[drawn.lastIndexOf(`${erase}distillation [█████░░░░░░░░░░░░░░░]  25% epoch 1/1 step 1/4 | … steps/s | ETA …`) - 1]).toBe(
      erase
    )
  }, 120_000)
})
