import { describe, expect, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { loadConfig, pipelineLayer, runPipeline } from "@bingo/cli"
import { neededViews, planViews } from "@bingo/losses"
import plugin, { bagAlign } from "../bagAlignLoss.ts"

describe("bag-align (a plugin loss)", () => {
  it("matches a value computed by hand", async () => {
    await tf.setBackend("cpu")
    // D = 2, B = 1, queue of one vector, T = 1, alpha = 0.5
    const sA = tf.tensor2d([[1, 0]]),
      sP = tf.tensor2d([[0, 1]]),
      tA = tf.tensor2d([[1, 0]]),
      queue = tf.tensor2d([[0, 1]])
    // CE = -log(e^1 / (e^1 + e^0)) = log(1 + e^-1); cosine(s_p, t_a) = 0
    const expected = Math.log(1 + Math.exp(-1)) + 0.5 * (1 - 0)
    const before = tf.memory().numTensors
    const l = bagAlign(sA, sP, tA, queue, { temperature: 1, alpha: 0.5 })
    expect(l.dataSync()[0]).toBeCloseTo(expected, 6)
    l.dispose()
    expect(tf.memory().numTensors).toBe(before)
    tf.dispose([sA, sP, tA, queue])
  })

  it("has gradients matching finite differences", async () => {
    await tf.setBackend("cpu")
    const tA = tf.tensor2d([[0.6, 0.8]]),
      queue = tf.tensor2d([
        [0, 1],
        [1, 0]
      ]),
      sP = tf.tensor2d([[0.8, 0.6]])
    const f = (s: tf.Tensor) => bagAlign(s as tf.Tensor2D, sP, tA, queue, { temperature: 0.5, alpha: 1 })
    const s0 = [0.3, -0.2]
    const g = tf
      .grad(f)(tf.tensor2d([s0]))
      .dataSync()
    const eps = 1e-2
    for (let i = 0; i < 2; i++) {
      const up = [...s0],
        down = [...s0]
      up[i]! += eps
      down[i]! -= eps
      const numeric = (f(tf.tensor2d([up])).dataSync()[0]! - f(tf.tensor2d([down])).dataSync()[0]!) / (2 * eps)
      expect(g[i]).toBeCloseTo(numeric, 3)
    }
  })

  it("decodes its options over the defaults and names an unknown key, a wrong type or a bad value", () => {
    expect(plugin.defaults).toEqual({ temperature: 0.2, alpha: 1 })
    expect(plugin.decodeOptions(undefined)).toEqual({ temperature: 0.2, alpha: 1 })
    expect(plugin.decodeOptions({ alpha: 2 })).toEqual({ temperature: 0.2, alpha: 2 })
    expect(plugin.decodeOptions({ alpha: 0, temperature: 0.07 })).toEqual({ temperature: 0.07, alpha: 0 })
    expect(plugin.decodeOptions({ alpah: 1 })).toEqual({ error: expect.stringMatching(/^alpah: Unexpected key/) })
    expect(plugin.decodeOptions({ alpha: "half" })).toEqual({ error: expect.stringMatching(/^alpha: Expected number, got "half"/) })
    expect(plugin.decodeOptions({ temperature: 0 })).toEqual({
      error: expect.stringMatching(/^temperature: Expected a value greater than 0, got 0/)
    })
    expect(plugin.decodeOptions({ alpha: -1 })).toEqual({
      error: expect.stringMatching(/^alpha: Expected a value greater than or equal to 0, got -1/)
    })
  })

  it("declares the views it reads, so the trainer embeds the positive with the student only", () => {
    expect(neededViews(plugin, plugin.defaults)).toEqual(["studentPositive", "teacher"])
    expect(planViews(neededViews(plugin, plugin.defaults))).toEqual({
      positive: true,
      teacherPositive: false,
      mix: false,
      studentKey: false
    })
    // it computes from exactly those views, and names the one it lacks
    const views = {
      studentAnchor: tf.tensor2d([[1, 0]]),
      studentPositive: tf.tensor2d([[0, 1]]),
      teacherAnchor: tf.tensor2d([[1, 0]]),
      teacherQueue: tf.tensor2d([[0, 1]]),
      epoch: 0
    }
    const loss = plugin.compute(views, { temperature: 1, alpha: 0.5 }) as tf.Scalar
    expect(loss.dataSync()[0]).toBeCloseTo(Math.log(1 + Math.exp(-1)) + 0.5, 6)
    const { studentPositive: _omit, ...withoutPositive } = views
    expect(() => plugin.compute(withoutPositive, plugin.defaults)).toThrow(/loss 'bag-align' needs the view 'studentPositive'/)
    tf.dispose([loss, ...Object.values(views).filter((v) => v instanceof tf.Tensor)])
  })

  it.effect(
    "is selected from YAML by a tiny pipeline run, without touching library code",
    () =>
      Effect.gen(function* () {
        const out = mkdtempSync(join(tmpdir(), "bingo-custom-loss-"))
        const configPath = resolve(import.meta.dirname, "../bingo.yaml")
        const config = yield* loadConfig(configPath, [
          `outDir=${out}`,
          "dataset.options={trainSize: 192, testSize: 64, size: 16}",
          "teacher.pretrain.epochs=1",
          "teacher.pretrain.batchSize=64",
          "distill.batchSize=64",
          "distill.epochs=1",
          "eval.linear.epochs=2",
          "eval.teacher=false"
        ])
        const dir = resolve(import.meta.dirname, "..")
        const result = yield* Effect.scoped(runPipeline(config, dir)).pipe(Effect.provide(pipelineLayer(config, dir)))
        expect(result.rows[0]!.model).toBe("student (bag-align)")
        expect(result.distillLosses.every(Number.isFinite)).toBe(true)
      }),
    120_000
  )
})
