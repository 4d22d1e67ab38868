import * as tf from "@tensorflow/tfjs"
import { Effect, Logger } from "effect"
import { appendFileSync, mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { loadNativeAddon, registerNativeKernels, unregisterNativeKernels } from "@bingo/native-cpu"
import { computeThreads, failureOf, Rng } from "@bingo/runtime"
import type { Objective } from "../src/Objective.ts"
import { runTrainingLoop, type TrainingLoopOptions } from "../src/TrainingLoop.ts"
import { type MetricsLine, readMetrics } from "../src/MetricsLog.ts"

beforeAll(async () => {
  await tf.setBackend("cpu")
})

const nativeError = (() => {
  const r = loadNativeAddon()
  return "error" in r ? r.error : undefined
})()

const N = 64
const B = 16
const DIM_IN = 8
const DIM_OUT = 4

/**
 * A toy contrastive objective: two noisy views of Gaussian points, a linear encoder
 * z = l2norm(x W), in-batch InfoNCE (collapse value ln B). `constant` makes the network ignore
 * its input (z = l2norm(c), the same point for every image): a collapsed network by construction.
 */
const toyObjective = (w: tf.Variable, constant = false): Objective<Int32Array, never> => {
  const rng = Rng.fromSeed(11)
  const x = Float32Array.from({ length: N * DIM_IN }, () => rng.normal())
  const encode = (v: tf.Tensor2D) =>
    tf.tidy(() => {
      const h = tf.matMul(v, w)
      const out = constant ? tf.add(tf.mul(h, 0), tf.tensor1d([1, 0.5, 0, 0])) : h
      return tf.div(out, tf.norm(out, 2, 1, true)) as tf.Tensor2D
    })
  return {
    trainable: new Map([["w", w]]),
    networks: new Map([["encoder", new Map([["w", w]])]]),
    queues: new Map(),
    collapseValue: Math.log(B),
    imagesPerStep: B,
    planEpoch: (orderRng) => {
      const perm = orderRng.permutation(N)
      return { steps: N / B, take: (step) => Effect.succeed(perm.slice(step * B, (step + 1) * B)) }
    },
    makeViews: (rows, { augRng }) => {
      const view = () => {
        const v = new Float32Array(B * DIM_IN)
        rows.forEach((r, i) => {
          for (let j = 0; j < DIM_IN; j++) v[i * DIM_IN + j] = x[r * DIM_IN + j]! + 0.1 * augRng.normal()
        })
        return tf.tensor2d(v, [B, DIM_IN])
      }
      const a = view()
      const b = view()
      return {
        loss: () => {
          const za = encode(a)
          const zb = encode(b)
          const logits = tf.div(tf.matMul(za, zb, false, true), 0.2)
          const total = tf.losses.softmaxCrossEntropy(tf.oneHot(tf.range(0, B, 1, "int32"), B), logits) as tf.Scalar
          return { total, terms: { alignment: tf.mean(tf.sum(tf.mul(za, zb), 1)) as tf.Scalar }, monitored: [["encoder", za]] }
        }
      }
    }
  }
}

const options = (o: Partial<TrainingLoopOptions> = {}): TrainingLoopOptions => ({
  stage: "toy",
  schedule: { lr: 0.5, lrScaling: "none", warmupEpochs: 0, epochs: 3, batchSize: B },
  momentum: 0.9,
  weightDecay: 0,
  seed: 1,
  fingerprint: "toy",
  ...o
})

const weights = () =>
  tf.variable(
    tf.tensor2d(
      Float32Array.from({ length: DIM_IN * DIM_OUT }, (_, i) => Math.sin(i + 1)),
      [DIM_IN, DIM_OUT]
    )
  )

describe("runTrainingLoop", () => {
  it("trains a healthy run without a warning-level error, recording each epoch's loss, terms, lr, gradient norm and spread; no leak", async () => {
    const w = weights()
    const before = tf.memory().numTensors
    const result = await Effect.runPromise(runTrainingLoop(toyObjective(w), options()))
    expect(tf.memory().numTensors).toBe(before)
    expect(result.finished).toBe(true)
    expect(result.steps).toBe(12)
    expect(result.epochs.map((e) => e.epoch)).toEqual([0, 1, 2])
    // far below ln(B), the loss of a network whose logits are all equal
    expect(result.epochs[2]!.loss).toBeLessThan(0.6 * Math.log(B))
    for (const e of result.epochs) {
      expect(Object.keys(e.terms)).toEqual(["alignment"])
      expect(e.embeddings["encoder"]!.spread).toBeGreaterThan(0.5)
      expect(e.gradNorm).toBeGreaterThan(0)
      expect(e.collapseValue).toBeCloseTo(Math.log(B), 10)
    }
    expect(result.epochs[1]!.lr).toBeCloseTo(0.5 * 0.5 * (1 + Math.cos(Math.PI / 3)), 10)
    w.dispose()
  })

  it("stops a network that outputs one point for every image with TrainingCollapsed after collapseSteps steps, naming stage, epoch, step and evidence", async () => {
    const w = weights()
    const exit = await Effect.runPromiseExit(runTrainingLoop(toyObjective(w, true), options({ health: { collapseSteps: 3 } })))
    const error = failureOf(exit)
    expect(error).toMatchObject({ _tag: "TrainingCollapsed", stage: "toy", epoch: 0, step: 2, network: "encoder" })
    expect((error as { message: string }).message).toMatch(/spread below 0.05 for 3 steps in a row, not rising/)
    w.dispose()
  })

  it("stops a constant network at the end of its first epoch with the default thresholds (fewer steps than collapseSteps)", async () => {
    const w = weights()
    const exit = await Effect.runPromiseExit(runTrainingLoop(toyObjective(w, true), options()))
    expect(failureOf(exit)).toMatchObject({ _tag: "TrainingCollapsed", epoch: 0, step: 3, network: "encoder" })
    w.dispose()
  })

  it("stops a run with a huge lr (collapsed or diverged, never a result), naming the last checkpoint once one exists", async () => {
    for (const lr of [1e30, 1e38]) {
      const w = weights()
      const dir = mkdtempSync(join(tmpdir(), "bingo-loop-"))
      const checkpointPath = join(dir, "toy.ckpt")
      const exit = await Effect.runPromiseExit(
        runTrainingLoop(toyObjective(w), options({ checkpointPath, checkpointEverySteps: 1, schedule: { ...options().schedule, lr } }))
      )
      const error = failureOf(exit) as { _tag: string; lastCheckpoint?: string; step: number; epoch: number } | undefined
      expect(["TrainingDiverged", "TrainingCollapsed"], `lr ${lr}`).toContain(error?._tag)
      if (error!.epoch > 0 || error!.step > 1) expect(error!.lastCheckpoint).toBe(checkpointPath)
      w.dispose()
    }
  })

  it("stops a NaN loss with TrainingDiverged before the update: the weights are those of the step before", async () => {
    const w = weights()
    const nan = toyObjective(w)
    const poisoned: typeof nan = {
      ...nan,
      makeViews: (rows, context) => {
        const views = nan.makeViews(rows, context)
        if (context.step < 2) return views
        return {
          loss: () => {
            const out = views.loss()
            return { ...out, total: tf.mul(out.total, Number.NaN) as tf.Scalar }
          }
        }
      }
    }
    let afterStep1: Array<number> = []
    const exit = await Effect.runPromiseExit(runTrainingLoop(poisoned, options({ onStep: () => (afterStep1 = Array.from(w.dataSync())) })))
    expect(failureOf(exit)).toMatchObject({ _tag: "TrainingDiverged", stage: "toy", epoch: 0, step: 2 })
    expect(Array.from(w.dataSync())).toEqual(afterStep1)
    w.dispose()
  })

  it("resumes from a checkpoint written mid-epoch to the same weights and epoch summaries as an uninterrupted run", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bingo-loop-"))
    const checkpointPath = join(dir, "toy.ckpt")
    const whole = weights()
    const a = await Effect.runPromise(runTrainingLoop(toyObjective(whole), options()))
    const first = weights()
    const stopped = await Effect.runPromise(runTrainingLoop(toyObjective(first), options({ checkpointPath, stopAfterSteps: 6 })))
    expect(stopped.finished).toBe(false)
    const second = weights()
    const b = await Effect.runPromise(runTrainingLoop(toyObjective(second), options({ checkpointPath })))
    expect(b.finished).toBe(true)
    expect(b.epochs.map((e) => [e.loss, e.terms, e.embeddings, e.lr])).toEqual(a.epochs.map((e) => [e.loss, e.terms, e.embeddings, e.lr]))
    expect(Array.from(second.dataSync())).toEqual(Array.from(whole.dataSync()))
    tf.dispose([whole, first, second])
  })

  it.skipIf(nativeError !== undefined)(
    "a run resumed in a process that chose another native thread count goes on with the count it started with (float results depend on it)",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "bingo-loop-"))
      const checkpointPath = join(dir, "toy.ckpt")
      const first = weights(),
        second = weights()
      try {
        registerNativeKernels({ threads: 2 })
        await Effect.runPromise(runTrainingLoop(toyObjective(first), options({ checkpointPath, stopAfterSteps: 6 })))
        registerNativeKernels({ threads: 1 }) // as a process started on a busy machine would choose
        const lines: Array<string> = []
        const logger = Logger.make(({ message }) => lines.push(String(Array.isArray(message) ? message.join(" ") : message)))
        const b = await Effect.runPromise(
          runTrainingLoop(toyObjective(second), options({ checkpointPath })).pipe(Effect.provide(Logger.layer([logger])))
        )
        expect(b.finished).toBe(true)
        expect(computeThreads()).toBe(2)
        expect(lines).toContain(
          "toy: native threads: 2, as the run started with (this process had chosen 1), so that it stays bit-identical to an uninterrupted run"
        )
      } finally {
        unregisterNativeKernels()
        tf.dispose([first, second])
      }
    }
  )

  it("writes metrics.jsonl step and epoch lines; a run stopped mid-epoch (with a partial last line) and resumed has the lines of an uninterrupted one", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bingo-loop-"))
    const untimed = (lines: Array<MetricsLine>) =>
      lines.map((l) => {
        const { time: _t, imagesPerSecond: _r, ...rest } = l as MetricsLine & { imagesPerSecond?: unknown; seconds?: unknown }
        const { seconds: _s, ...kept } = rest as Record<string, unknown>
        return kept
      })
    const whole = join(dir, "whole.jsonl")
    const a = weights()
    await Effect.runPromise(runTrainingLoop(toyObjective(a), options({ metrics: { path: whole, every: 2 } })))
    const lines = readMetrics(whole)
    // 12 steps, a line every 2nd; 3 epoch lines
    expect(lines.filter((l) => l.type === "step").map((l) => (l as { globalStep: number }).globalStep)).toEqual([2, 4, 6, 8, 10, 12])
    expect(lines.filter((l) => l.type === "epoch").map((l) => l.epoch)).toEqual([0, 1, 2])
    expect(lines[0]).toMatchObject({ type: "step", stage: "toy", epoch: 0, step: 1, globalStep: 2, images: 2 * B, queueFill: {} })
    const killed = join(dir, "killed.jsonl")
    const checkpointPath = join(dir, "toy.ckpt")
    const b = weights()
    await Effect.runPromise(
      runTrainingLoop(
        toyObjective(b),
        options({ metrics: { path: killed, every: 2 }, checkpointPath, checkpointEverySteps: 4, stopAfterSteps: 6 })
      )
    )
    // a line the run had written past its last checkpoint, and half a line from a kill mid-append
    appendFileSync(killed, `${JSON.stringify({ ...lines[3], globalStep: 8 })}\n{"type":"step","sta`)
    const c = weights()
    await Effect.runPromise(runTrainingLoop(toyObjective(c), options({ metrics: { path: killed, every: 2 }, checkpointPath })))
    expect(readFileSync(killed, "utf8").endsWith("\n")).toBe(true)
    expect(untimed(readMetrics(killed))).toEqual(untimed(lines))
    tf.dispose([a, b, c])
  })
})
