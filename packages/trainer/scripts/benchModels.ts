/**
 * The `bingo` and `teacher` models of `pnpm bench` (scripts/bench.ts), made of the library itself
 * so that the bench times what a run does:
 *
 *   bingo    one code-form BINGO distillation step as `Trainer.distil` runs it (the training loop
 *            of @bingo/training over `distillationObjective`): the frozen teacher (ResNet-18,
 *            CIFAR stem, MoCo-v2 head 512-2048-128, batch norm in eval mode) embeds the key views k
 *            and pk; the student (ResNet-18 at width 0.5, 32-64-128-256, head 256-256-128, batch
 *            norm in train mode) embeds q, pq and CutMix(q, pq); the six-term loss (`bingo`, code
 *            form, T 0.2, past its warm-up so all six terms are weighted) against a queue of 4,096
 *            teacher keys; gradients, the loop's health numbers in one read-back, SGD (momentum 0.9,
 *            weight decay 1e-4), the teacher keys enqueued. Batch 32 of 32x32x3 random images,
 *            bags of K = 5 random neighbours. The augmentations are the identity (whole-image crop,
 *            no flip, jitter, grayscale or blur; normalisation and CutMix stay): the bench times
 *            the networks, the loss and SGD, as the PyTorch side does (`pnpm bench:data` times the
 *            augmentations).
 *   teacher  the teacher's embedding pass alone: `Teacher.embedKeys` on a batch of 256 (eval mode),
 *            read back as the distillation step reads its keys.
 *
 * scripts/bench_torch.py has the same two models in PyTorch. They live here, not in scripts/,
 * because this package depends on everything they use (scripts/ sees only the root's
 * devDependencies).
 */
import { createEncoder, disposeEncoder, type EncoderSpec } from "@bingo/backbones"
import type { Bags } from "@bingo/bag-miner"
import { type AugmentConfig, makeImageDataset } from "@bingo/data"
import { LossRegistry } from "@bingo/losses"
import { Rng } from "@bingo/runtime"
import { Teacher } from "@bingo/teacher"
import { healthChecksOff, type StepReport } from "@bingo/training"
import * as tf from "@tensorflow/tfjs"
import { Effect, Layer } from "effect"
import { Trainer } from "../src/Trainer.ts"

export const bingoBatch = 32
export const teacherBatch = 256
export const queueSize = 4096
const side = 32
export const teacherSpec: EncoderSpec = {
  backbone: "resnet18",
  inputShape: [side, side, 3],
  widthMultiplier: 1,
  stem: "cifar",
  headHidden: 2048,
  embeddingDim: 128
}
export const studentSpec: EncoderSpec = { ...teacherSpec, widthMultiplier: 0.5, headHidden: 256 }

/** Views as the trainer makes them, with every random augmentation switched off. */
const identityAugment: AugmentConfig = {
  outputSize: side,
  cropScale: [1, 1],
  cropRatio: [1, 1],
  flipProb: 0,
  jitterProb: 0,
  grayscaleProb: 0,
  blurProb: 0
}

/** One timed step (or pass): wall and CPU milliseconds, the loss, and what `mark` measured (allocations). */
export interface StepSample {
  readonly ms: number
  readonly cpuMs: number
  readonly loss: number
  readonly mark: number
}

const teacherLayer = Teacher.fromEncoder(Effect.sync(() => createEncoder(teacherSpec, Rng.fromSeed(1), "teacher")))

/**
 * `steps` distillation steps run by `Trainer.distil` (stopped after them), one sample each. A step
 * is timed from the end of the one before (the loop's `onStep`), so it includes everything the loop
 * does between: reading the step's images, the views, the teacher's keys, the student's step, the
 * health checks; the first from the call (building the networks too: a warm-up). `mark()` is
 * called after every step (the bench reads and resets the native allocation counter there).
 */
export const runBingoSteps = async (steps: number, mark: () => number = () => 0): Promise<Array<StepSample>> => {
  const total = steps
  const n = bingoBatch * total // one epoch of exactly `total` steps (the loop drops a last partial batch)
  const rng = Rng.fromSeed(7)
  const images = new Float32Array(n * side * side * 3)
  for (let i = 0; i < images.length; i++) images[i] = rng.uniform(0, 1)
  const dataset = makeImageDataset({ name: "bench", size: n, height: side, width: side, channels: 3, images })
  const k = 5
  const neighbours = new Int32Array(n * k)
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) neighbours[i * k + j] = (i + 1 + rng.int(n - 1)) % n
  const bags: Bags = { n, k, neighbours }
  const loss = Effect.runSync(LossRegistry.make().resolve("bingo", { form: "code", warmupEpochs: 0 }))
  const marks: Array<{ readonly t: number; readonly cpu: NodeJS.CpuUsage; readonly loss: number; readonly mark: number }> = []
  const start = { t: performance.now(), cpu: process.cpuUsage(), loss: Number.NaN, mark: 0 }
  const onStep = (r: StepReport) => {
    marks.push({ t: performance.now(), cpu: process.cpuUsage(), loss: r.loss, mark: mark() })
  }
  const trainer = Trainer.layer({
    student: studentSpec,
    augment: identityAugment,
    studentKeyMomentum: 0.999,
    seed: 0,
    epochs: 1,
    batchSize: bingoBatch,
    lr: 0.03,
    momentum: 0.9,
    weightDecay: 1e-4,
    queueSize,
    stopAfterSteps: total,
    health: healthChecksOff, // random images and networks: no collapse verdicts
    onStep
  })
  await Effect.runPromise(
    Effect.gen(function* () {
      const result = yield* (yield* Trainer).distil({ dataset, bags, loss })
      disposeEncoder(result.student)
    }).pipe(Effect.provide(trainer.pipe(Layer.provide(teacherLayer))))
  )
  return marks.map((m, i) => {
    const before = i === 0 ? start : marks[i - 1]!
    const cpuMs = (m.cpu.user - before.cpu.user + m.cpu.system - before.cpu.system) / 1000
    return { ms: m.t - before.t, cpuMs, loss: m.loss, mark: m.mark }
  })
}

/** `passes` teacher embedding passes (batch 256, eval mode, keys read back), one sample each. */
export const runTeacherPasses = (passes: number, mark: () => number = () => 0): Promise<Array<StepSample>> =>
  Effect.runPromise(
    Effect.gen(function* () {
      const teacher = yield* Teacher
      const x = tf.tidy(() => tf.randomUniform([teacherBatch, side, side, 3], -1, 1, "float32", 3) as tf.Tensor4D)
      const samples: Array<StepSample> = []
      for (let i = 0; i < passes; i++) {
        const c0 = process.cpuUsage()
        const t0 = performance.now()
        const keys = yield* teacher.embedKeys(x)
        const values = yield* Effect.promise(() => keys.data())
        keys.dispose()
        const ms = performance.now() - t0
        const c = process.cpuUsage(c0)
        samples.push({ ms, cpuMs: (c.user + c.system) / 1000, loss: values[0]!, mark: mark() })
      }
      x.dispose()
      return samples
    }).pipe(Effect.provide(teacherLayer))
  )
