import * as tf from "@tensorflow/tfjs"
import { Context, Effect, Layer } from "effect"
import { Rng } from "@bingo/runtime"
import {
  cloneEncoder,
  createEncoder,
  disposeEncoder,
  embed,
  type Encoder,
  type EncoderSpec,
  momentumUpdate
} from "@bingo/backbones"
import {
  type AugmentConfig,
  augmentBatch,
  cutMix,
  type DatasetError,
  gatherAhead,
  type ImageSource,
  samplePositives,
  shuffledBatches
} from "@bingo/data"
import type { Bags } from "@bingo/bag-miner"
import type { DistillationViews, ResolvedLoss } from "@bingo/losses"
import { cosineLr, EmbeddingQueue, Sgd, type OptimisationOptions } from "@bingo/optim"
import { Teacher } from "@bingo/teacher"
import { BagsDoNotMatchDataset, DatasetSmallerThanBatch, NonFiniteLoss, EmbeddingDimMismatch } from "./TrainerError.ts"
import { checkpointExists, loadTrainingState, saveTrainingState, type TrainingState } from "./TrainingState.ts"

export interface DistillOptions extends OptimisationOptions {
  readonly student: EncoderSpec
  readonly augment: AugmentConfig
  /** EMA momentum of the momentum student (only for losses that need "studentKey"). */
  readonly studentKeyMomentum: number
  readonly seed: number
  /** Where the training state is checkpointed (atomically); absent: no checkpoints. */
  readonly checkpointPath?: string
  /** Checkpoint every this many steps (and always at the end of each epoch). 0: epoch ends only. */
  readonly checkpointEverySteps?: number
  /** Continue from `checkpointPath` when it exists (default true). */
  readonly resume?: boolean
  /** Log a progress line every this many steps (0: once per epoch). */
  readonly logEvery?: number
  /** Stop after this many steps in this process (for tests of resumption); the run is unfinished. */
  readonly stopAfterSteps?: number
  /** Called after every finished step (progress bars, soak tests); not part of the checkpoint. */
  readonly onStep?: (progress: StepProgress) => void
}

export interface StepProgress {
  /** 0-based epoch and step within it of the step just done. */
  readonly epoch: number
  readonly step: number
  readonly globalStep: number
  readonly loss: number
}

export interface DistillInput {
  /** The training images: in memory, or a store read a step ahead (`folder` with `inMemory: false`). */
  readonly dataset: ImageSource
  readonly bags: Bags
  readonly loss: ResolvedLoss
}

export interface DistillResult {
  /** The distilled student; the caller owns it (dispose with disposeEncoder). */
  readonly student: Encoder
  readonly epochLosses: ReadonlyArray<number>
  readonly steps: number
  /** False when stopped early by `stopAfterSteps`. */
  readonly finished: boolean
}

/**
 * Stage 2 of BINGO: distil a student from the frozen Teacher using mined bags and a loss from
 * the registry. One step: sample a bag positive per anchor, make the q / k / pq / pk views and
 * the CutMix of q and pq, embed k and pk with the teacher, q / pq / mix with the student,
 * compute the loss, SGD step, enqueue the teacher anchor keys. Checkpoints are atomic and a
 * run resumes with identical subsequent losses.
 */
export class Trainer extends Context.Service<Trainer, {
  readonly distil: (input: DistillInput) => Effect.Effect<
    DistillResult,
    | NonFiniteLoss
    | BagsDoNotMatchDataset
    | DatasetSmallerThanBatch
    | EmbeddingDimMismatch
    | import("./TrainerError.ts").CheckpointError
    | DatasetError
  >
}>()("@bingo/trainer/Trainer") {
  static readonly layer = (options: DistillOptions) =>
    Layer.effect(
      Trainer,
      Effect.gen(function*() {
        const teacher = yield* Teacher
        return Trainer.of({ distil: (input) => distil(teacher, options, input) })
      })
    )
}

/** FNV-1a over the bytes of typed arrays: identifies bags and teacher weights in the fingerprint. */
const fnv1a = (arrays: ReadonlyArray<ArrayBufferView>): string => {
  let h = 0x811c9dc5
  for (const a of arrays) {
    const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength)
    for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193) >>> 0
  }
  return h.toString(16).padStart(8, "0")
}

/**
 * A fingerprint of everything that changes the trajectory, so a checkpoint is only resumed by
 * the same run: the options, the loss, the dataset size, the bags' contents and the teacher's
 * weights (a bag file or teacher swapped under an existing outDir is refused, not resumed).
 */
const fingerprintOf = (options: DistillOptions, input: DistillInput, teacher: Teacher["Service"]): string =>
  JSON.stringify({
    student: options.student,
    augment: options.augment,
    epochs: options.epochs,
    batchSize: options.batchSize,
    lr: options.lr,
    momentum: options.momentum,
    weightDecay: options.weightDecay,
    queueSize: options.queueSize,
    seed: options.seed,
    loss: input.loss.loss.name,
    lossOptions: input.loss.options,
    n: input.dataset.size,
    // how a step's images are drawn: anchors and positives both from the epoch's order RNG
    // (earlier versions drew positives from the augmentation RNG; their checkpoints are refused)
    plan: "order-rng-anchors-and-positives",
    k: input.bags.k,
    bags: fnv1a([input.bags.neighbours]),
    teacher: fnv1a([...teacher.encoder.params.values()].map((v) => v.dataSync() as Float32Array))
  })

const distil = Effect.fn("Trainer.distil")(function*(teacher: Teacher["Service"], options: DistillOptions, input: DistillInput) {
  const { dataset, bags, loss } = input
  if (bags.n !== dataset.size) return yield* new BagsDoNotMatchDataset({ bagsN: bags.n, datasetN: dataset.size })
  // the last partial batch is dropped: a dataset smaller than a batch would train no step at all
  if (dataset.size < options.batchSize) return yield* new DatasetSmallerThanBatch({ datasetN: dataset.size, batchSize: options.batchSize })
  if (teacher.encoder.spec.embeddingDim !== options.student.embeddingDim) {
    return yield* new EmbeddingDimMismatch({ teacher: teacher.encoder.spec.embeddingDim, student: options.student.embeddingDim })
  }
  const needs = new Set(loss.needs)
  const needsMix = needs.has("mix")
  // s_p (and the positive's images) for "positive", "studentPositive" and the CutMix; t_p only for "positive"
  const needsPositive = needs.has("positive") || needs.has("studentPositive") || needsMix
  const needsTeacherPositive = needs.has("positive")
  const needsStudentKey = needs.has("studentKey")

  const initRng = Rng.fromSeed(options.seed)
  const student = createEncoder(options.student, initRng, "student")
  const state: TrainingState = {
    student,
    studentKey: needsStudentKey ? cloneEncoder(student, initRng, "student-key") : undefined,
    sgd: new Sgd({ momentum: options.momentum, weightDecay: options.weightDecay }),
    teacherQueue: EmbeddingQueue.random(options.queueSize, options.student.embeddingDim, initRng),
    studentKeyQueue: needsStudentKey ? EmbeddingQueue.random(options.queueSize, options.student.embeddingDim, initRng) : undefined,
    epoch: 0,
    stepInEpoch: 0,
    globalStep: 0,
    orderRngAtEpochStart: Rng.fromSeed(options.seed + 1).state(),
    augRng: Rng.fromSeed(options.seed + 2),
    epochLosses: [],
    partialLossSum: 0,
    partialLossCount: 0
  }
  const release = () => {
    if (state.studentKey !== undefined) disposeEncoder(state.studentKey)
    state.sgd.dispose()
    state.teacherQueue.dispose()
    state.studentKeyQueue?.dispose()
  }
  const fingerprint = fingerprintOf(options, input, teacher)
  const ckpt = options.checkpointPath

  const run = Effect.gen(function*() {
    if (ckpt !== undefined && (options.resume ?? true) && checkpointExists(ckpt)) {
      yield* loadTrainingState(ckpt, state, fingerprint)
      yield* Effect.logInfo(`trainer: resumed from ${ckpt} at epoch ${state.epoch + 1}, step ${state.stepInEpoch} (global step ${state.globalStep})`)
    }
    const trainable = new Map([...student.params].filter(([, v]) => v.trainable))
    const trainableList = [...trainable.values()]
    const shape = [options.augment.outputSize, options.augment.outputSize, dataset.channels] as const
    const toTensor = (x: Float32Array, b: number) => tf.tensor4d(x, [b, ...shape])
    let lastCheckpoint: string | undefined = ckpt !== undefined && checkpointExists(ckpt) ? ckpt : undefined
    let stepsThisProcess = 0

    const checkpoint = Effect.gen(function*() {
      if (ckpt === undefined) return
      yield* saveTrainingState(ckpt, state, fingerprint)
      lastCheckpoint = ckpt
    })

    while (state.epoch < options.epochs) {
      // the epoch's plan, from the order RNG alone: the anchors of every step, then each anchor's
      // positive from its bag. Known in advance, a step's images (anchors, then positives) are
      // read while the previous step computes when the dataset is a store on disk; a resumed
      // run redraws the same plan from the saved RNG state.
      const orderRng = Rng.fromState(state.orderRngAtEpochStart)
      const batches = shuffledBatches(dataset.size, options.batchSize, orderRng, { dropLast: true })
      const positivesOf = needsPositive ? batches.map((anchors) => samplePositives(bags.neighbours, bags.k, anchors, orderRng)) : undefined
      const images = gatherAhead(dataset, batches.length, (step) => {
        const anchors = batches[step]!
        const positives = positivesOf?.[step]
        if (positives === undefined) return anchors
        const rows = new Int32Array(2 * anchors.length)
        rows.set(anchors)
        rows.set(positives, anchors.length)
        return rows
      })
      const lr = cosineLr(options.lr, state.epoch, options.epochs)
      const t0 = performance.now()
      const stepsBefore = state.stepInEpoch
      for (let step = state.stepInEpoch; step < batches.length; step++) {
        const b = batches[step]!.length
        const rng = state.augRng
        const { images: stepImages, rows } = yield* images.take(step)
        const anchorRows = rows.subarray(0, b)
        const positiveRows = positivesOf === undefined ? undefined : rows.subarray(b, 2 * b)
        const q = augmentBatch(stepImages, anchorRows, options.augment, rng)
        const k = augmentBatch(stepImages, anchorRows, options.augment, rng)
        const pq = positiveRows === undefined ? undefined : augmentBatch(stepImages, positiveRows, options.augment, rng)
        const pk = positiveRows === undefined || !needsTeacherPositive ? undefined : augmentBatch(stepImages, positiveRows, options.augment, rng)
        const mix = needsMix && pq !== undefined
          ? cutMix(q, pq, { batch: b, height: shape[0], width: shape[1], channels: shape[2] }, rng)
          : undefined

        const value = tf.tidy(() => {
          const kT = toTensor(k, b)
          const teacherAnchor = teacher.embedKeys(kT)
          const teacherPositive = pk === undefined ? undefined : teacher.embedKeys(toTensor(pk, b))
          const studentKey = state.studentKey === undefined ? undefined : embed(state.studentKey, kT, "train")
          const { value, grads } = tf.variableGrads(() => {
            const views: DistillationViews = {
              studentAnchor: embed(student, toTensor(q, b), "train"),
              teacherAnchor,
              teacherQueue: state.teacherQueue.tensor,
              epoch: state.epoch,
              ...(pq === undefined ? {} : { studentPositive: embed(student, toTensor(pq, b), "train") }),
              ...(teacherPositive === undefined ? {} : { teacherPositive }),
              ...(mix === undefined ? {} : { studentMix: embed(student, toTensor(mix.mixed, b), "train"), mixLambda: mix.lambda }),
              ...(studentKey === undefined || state.studentKeyQueue === undefined
                ? {}
                : { studentKey, studentKeyQueue: state.studentKeyQueue.tensor })
            }
            return loss.compute(views)
          }, trainableList)
          const lossValue = value.dataSync()[0]!
          if (Number.isFinite(lossValue)) {
            state.sgd.step(new Map([...trainable].map(([name, v]) => [name, grads[v.name]!])), trainable, lr)
            state.teacherQueue.enqueue(teacherAnchor)
            if (studentKey !== undefined) state.studentKeyQueue?.enqueue(studentKey)
          }
          return lossValue
        })
        if (!Number.isFinite(value)) {
          return yield* new NonFiniteLoss({ epoch: state.epoch, step, loss: value, ...(lastCheckpoint === undefined ? {} : { lastCheckpoint }) })
        }
        if (state.studentKey !== undefined) momentumUpdate(state.studentKey, student, options.studentKeyMomentum)
        state.partialLossSum += value
        state.partialLossCount++
        state.stepInEpoch = step + 1
        state.globalStep++
        stepsThisProcess++
        options.onStep?.({ epoch: state.epoch, step, globalStep: state.globalStep, loss: value })
        if (options.logEvery !== undefined && options.logEvery > 0 && state.globalStep % options.logEvery === 0) {
          yield* Effect.logInfo(`distil epoch ${state.epoch + 1}/${options.epochs} step ${step + 1}/${batches.length} loss ${value.toFixed(4)}`)
        }
        const every = options.checkpointEverySteps ?? 0
        if (every > 0 && state.globalStep % every === 0 && step + 1 < batches.length) yield* checkpoint
        if (options.stopAfterSteps !== undefined && stepsThisProcess >= options.stopAfterSteps) {
          yield* checkpoint
          return { epochLosses: state.epochLosses, steps: state.globalStep, finished: false }
        }
        yield* Effect.yieldNow
      }
      const secs = (performance.now() - t0) / 1000
      const meanLoss = state.partialLossCount > 0 ? state.partialLossSum / state.partialLossCount : NaN
      state.epochLosses.push(meanLoss)
      const imagesPerSecond = ((batches.length - stepsBefore) * options.batchSize) / secs
      yield* Effect.logInfo(
        `distil epoch ${state.epoch + 1}/${options.epochs} loss ${meanLoss.toFixed(4)} lr ${lr.toFixed(4)} (${imagesPerSecond.toFixed(0)} img/s)`
      )
      state.partialLossSum = 0
      state.partialLossCount = 0
      state.epoch++
      state.stepInEpoch = 0
      state.orderRngAtEpochStart = orderRng.state()
      yield* checkpoint
    }
    return { epochLosses: state.epochLosses, steps: state.globalStep, finished: true }
  })

  const result = yield* run.pipe(
    Effect.onError(() => Effect.sync(() => disposeEncoder(student))),
    Effect.ensuring(Effect.sync(release))
  )
  return { student, ...result }
})
