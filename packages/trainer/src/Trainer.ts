import { Context, Effect, Layer } from "effect"
import { fnv1a, Rng } from "@bingo/runtime"
import { cloneEncoder, createEncoder, disposeEncoder, type Encoder, type EncoderSpec } from "@bingo/backbones"
import type { AugmentConfig, DatasetError, ImageSource } from "@bingo/data"
import type { Bags } from "@bingo/bag-miner"
import { planViews, type ResolvedLoss } from "@bingo/losses"
import { EmbeddingQueue, type OptimisationOptions } from "@bingo/optim"
import {
  type CheckpointError,
  type EpochSummary,
  type LoopRunOptions,
  loopOptions,
  runTrainingLoop,
  type TrainingCollapsed,
  type TrainingDiverged
} from "@bingo/training"
import { Teacher, type TeacherInferenceFailed } from "@bingo/teacher"
import { distillationObjective } from "./distillationObjective.ts"
import { BagsDoNotMatchDataset, DatasetSmallerThanBatch, EmbeddingDimMismatch } from "./TrainerError.ts"

export interface DistillOptions extends OptimisationOptions, LoopRunOptions {
  readonly student: EncoderSpec
  readonly augment: AugmentConfig
  /** EMA momentum of the momentum student (only for losses that need "studentKey"). */
  readonly studentKeyMomentum: number
  readonly seed: number
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
  /** Mean loss of each finished epoch. */
  readonly epochLosses: ReadonlyArray<number>
  /** Each finished epoch's means: loss terms, lr, gradient norm, embedding health. */
  readonly epochs: ReadonlyArray<EpochSummary>
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
export class Trainer extends Context.Service<
  Trainer,
  {
    readonly distil: (
      input: DistillInput
    ) => Effect.Effect<
      DistillResult,
      | TrainingDiverged
      | TrainingCollapsed
      | BagsDoNotMatchDataset
      | DatasetSmallerThanBatch
      | EmbeddingDimMismatch
      | CheckpointError
      | DatasetError
      | TeacherInferenceFailed
    >
  }
>()("@bingo/trainer/Trainer") {
  static readonly layer = (options: DistillOptions) =>
    Layer.effect(
      Trainer,
      Effect.gen(function* () {
        const teacher = yield* Teacher
        return Trainer.of({ distil: (input) => distil(teacher, options, input) })
      })
    )
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
    queueSize: options.queueSize,
    studentKeyMomentum: options.studentKeyMomentum,
    loss: input.loss.loss.name,
    lossOptions: input.loss.options,
    n: input.dataset.size,
    // how a step's images are drawn: anchors and positives both from the epoch's order RNG
    plan: "order-rng-anchors-and-positives",
    k: input.bags.k,
    bags: fnv1a([input.bags.neighbours]),
    // the teacher's weights (an encoder's variables, or a model file's bytes and outputs): Teacher.fingerprint
    teacher: teacher.fingerprint()
  })

const distil = Effect.fn("Trainer.distil")(function* (teacher: Teacher["Service"], options: DistillOptions, input: DistillInput) {
  const { dataset, bags, loss } = input
  if (bags.n !== dataset.size) return yield* new BagsDoNotMatchDataset({ bagsN: bags.n, datasetN: dataset.size })
  // the last partial batch is dropped: a dataset smaller than a batch would train no step at all
  if (dataset.size < options.batchSize) return yield* new DatasetSmallerThanBatch({ datasetN: dataset.size, batchSize: options.batchSize })
  if (teacher.embeddingDim !== options.student.embeddingDim) {
    return yield* new EmbeddingDimMismatch({ teacher: teacher.embeddingDim, student: options.student.embeddingDim })
  }
  const withStudentKey = planViews(loss.needs).studentKey
  const initRng = Rng.fromSeed(options.seed)
  const student = createEncoder(options.student, initRng, "student")
  const studentKey: Encoder | undefined = withStudentKey ? cloneEncoder(student, initRng, "student-key") : undefined
  const teacherQueue = EmbeddingQueue.random(options.queueSize, options.student.embeddingDim, initRng)
  const studentKeyQueue = withStudentKey ? EmbeddingQueue.random(options.queueSize, options.student.embeddingDim, initRng) : undefined
  const release = () => {
    if (studentKey !== undefined) disposeEncoder(studentKey)
    teacherQueue.dispose()
    studentKeyQueue?.dispose()
  }
  const objective = distillationObjective({
    dataset,
    bags,
    loss,
    teacher,
    student,
    studentKey,
    teacherQueue,
    studentKeyQueue,
    augment: options.augment,
    batchSize: options.batchSize,
    studentKeyMomentum: options.studentKeyMomentum
  })
  const result = yield* runTrainingLoop(
    objective,
    loopOptions("distillation", options, options.seed, fingerprintOf(options, input, teacher))
  ).pipe(
    Effect.onError(() => Effect.sync(() => disposeEncoder(student))),
    Effect.ensuring(Effect.sync(release))
  )
  return {
    student,
    epochLosses: result.epochs.map((e) => e.loss),
    epochs: result.epochs,
    steps: result.steps,
    finished: result.finished
  } satisfies DistillResult
})
