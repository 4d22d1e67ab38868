import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import type { Rng } from "@bingo/runtime"
import { embed, type Encoder, momentumUpdate } from "@bingo/backbones"
import {
  type AugmentConfig,
  augmentBatch,
  cutMix,
  gatherAhead,
  type ImageSource,
  samplePositives,
  shuffledBatches,
  type StepImages
} from "@bingo/data"
import type { Bags } from "@bingo/bag-miner"
import { type DistillationViews, planViews, type ResolvedLoss } from "@bingo/losses"
import type { EmbeddingQueue } from "@bingo/optim"
import type { LossOutput, Objective, StepContext, StepViews } from "@bingo/training"
import type { Teacher, TeacherInferenceFailed } from "@bingo/teacher"

/** What a distillation step reads and updates besides the loop's own state. */
export interface DistillationParts {
  readonly dataset: ImageSource
  readonly bags: Bags
  readonly loss: ResolvedLoss
  readonly teacher: Teacher["Service"]
  readonly student: Encoder
  /** The momentum student, for losses that need "studentKey". */
  readonly studentKey: Encoder | undefined
  readonly teacherQueue: EmbeddingQueue
  readonly studentKeyQueue: EmbeddingQueue | undefined
  readonly augment: AugmentConfig
  readonly batchSize: number
  readonly studentKeyMomentum: number
}

/**
 * A distillation step's input: the gathered images, then (after `prepare`) its augmented views
 * and the frozen teacher's keys, as plain arrays so that no tensor outlives the step.
 */
export interface DistillationStep {
  readonly images: StepImages
  readonly views?: PreparedViews
}

/** The step's augmented views (NHWC, normalised) and the teacher's L2-normalised keys [B, D] of k and pk. */
interface PreparedViews {
  readonly q: Float32Array
  readonly k: Float32Array
  readonly pq: Float32Array | undefined
  readonly mix: { readonly mixed: Float32Array; readonly lambda: number } | undefined
  readonly teacherAnchor: Float32Array
  readonly teacherPositive: Float32Array | undefined
}

/**
 * BINGO's distillation as an objective of the training loop. Plan: each epoch's anchors, then one
 * positive per anchor from its bag, both from the order RNG (known ahead, so a dataset on disk is
 * read a step ahead). Views (from the loss's needs, {@link planViews}): q, k = aug(anchor), pq, pk
 * = aug(positive), CutMix(q, pq); the teacher embeds k (and pk) in `prepare`, before the step's
 * tidy, since a teacher running outside TF.js (onnxruntime) answers asynchronously; the momentum
 * student embeds k. Loss: the registry's loss of the student's q / pq / mix embeddings. After the
 * update: the teacher's anchor keys (and the momentum student's) are enqueued, the momentum student moves.
 */
export const distillationObjective = (
  p: DistillationParts
): Objective<DistillationStep, import("@bingo/data").DatasetError | TeacherInferenceFailed> => {
  const plan = planViews(p.loss.needs)
  const trainable = new Map([...p.student.params].filter(([, v]) => v.trainable))
  const shape = [p.augment.outputSize, p.augment.outputSize, p.dataset.channels] as const
  const tensor = (x: Float32Array, b: number) => tf.tensor4d(x, [b, ...shape])
  return {
    trainable,
    networks: new Map([
      ["student", p.student.params],
      ...(p.studentKey === undefined ? [] : [["studentKey", p.studentKey.params] as const])
    ]),
    queues: new Map([
      ["teacher", p.teacherQueue],
      ...(p.studentKeyQueue === undefined ? [] : [["studentKey", p.studentKeyQueue] as const])
    ]),
    collapseValue: p.loss.collapseValue(p.teacherQueue.size),
    frozenNetworks: ["teacher"],
    imagesPerStep: p.batchSize,
    planEpoch: (orderRng) => planEpoch(p, plan.positive, orderRng),
    prepare: (input, context) => prepareViews(p, plan, input.images, context, tensor),
    makeViews: (input, context) => makeViews(p, input, context, tensor)
  }
}

/** The epoch's steps: anchors (then each anchor's bag positive) from the order RNG alone. */
const planEpoch = (p: DistillationParts, positives: boolean, orderRng: Rng) => {
  const batches = shuffledBatches(p.dataset.size, p.batchSize, orderRng, { dropLast: true })
  const positivesOf = positives ? batches.map((anchors) => samplePositives(p.bags.neighbours, p.bags.k, anchors, orderRng)) : undefined
  const images = gatherAhead(p.dataset, batches.length, (step) => {
    const anchors = batches[step]!
    const pos = positivesOf?.[step]
    if (pos === undefined) return anchors
    const rows = new Int32Array(2 * anchors.length)
    rows.set(anchors)
    rows.set(pos, anchors.length)
    return rows
  })
  return { steps: batches.length, take: (step: number) => Effect.map(images.take(step), (i): DistillationStep => ({ images: i })) }
}

/** The teacher's keys of a batch of views, read back as an array (the teacher may run in another runtime). */
const teacherKeys = (teacher: Teacher["Service"], views: tf.Tensor4D) =>
  Effect.acquireUseRelease(
    teacher.embedKeys(views),
    (keys) => Effect.promise(() => keys.data() as Promise<Float32Array>),
    (keys) => Effect.sync(() => keys.dispose())
  ).pipe(Effect.ensuring(Effect.sync(() => views.dispose())))

/** The augmentations (q, k, pq, pk, CutMix, in this order from the aug RNG) and the teacher's keys of k and pk. */
const prepareViews = (
  p: DistillationParts,
  plan: ReturnType<typeof planViews>,
  input: StepImages,
  { augRng: rng }: StepContext,
  tensor: (x: Float32Array, b: number) => tf.Tensor4D
) =>
  Effect.gen(function* () {
    const b = p.batchSize
    const { images, rows } = input
    const anchorRows = rows.subarray(0, b)
    const positiveRows = plan.positive ? rows.subarray(b, 2 * b) : undefined
    const q = augmentBatch(images, anchorRows, p.augment, rng)
    const k = augmentBatch(images, anchorRows, p.augment, rng)
    const pq = positiveRows === undefined ? undefined : augmentBatch(images, positiveRows, p.augment, rng)
    const pk = positiveRows === undefined || !plan.teacherPositive ? undefined : augmentBatch(images, positiveRows, p.augment, rng)
    const mix =
      plan.mix && pq !== undefined
        ? cutMix(q, pq, { batch: b, height: p.augment.outputSize, width: p.augment.outputSize, channels: p.dataset.channels }, rng)
        : undefined
    const teacherAnchor = yield* teacherKeys(p.teacher, tensor(k, b))
    const teacherPositive = pk === undefined ? undefined : yield* teacherKeys(p.teacher, tensor(pk, b))
    const views: PreparedViews = { q, k, pq, mix, teacherAnchor, teacherPositive }
    return { images: input, views } satisfies DistillationStep
  })

const makeViews = (
  p: DistillationParts,
  input: DistillationStep,
  { epoch }: StepContext,
  tensor: (x: Float32Array, b: number) => tf.Tensor4D
): StepViews => {
  const b = p.batchSize
  if (input.views === undefined) throw new Error("distillation: makeViews before prepare")
  const { q, k, pq, mix } = input.views
  const keys = (x: Float32Array) => tf.tensor2d(x, [b, x.length / b])
  const teacherAnchor = keys(input.views.teacherAnchor)
  const teacherPositive = input.views.teacherPositive === undefined ? undefined : keys(input.views.teacherPositive)
  const studentKey = p.studentKey === undefined ? undefined : embed(p.studentKey, tensor(k, b), "train")
  return {
    loss: (): LossOutput => {
      const studentAnchor = embed(p.student, tensor(q, b), "train")
      const views: DistillationViews = {
        studentAnchor,
        teacherAnchor,
        teacherQueue: p.teacherQueue.tensor,
        epoch,
        ...(pq === undefined ? {} : { studentPositive: embed(p.student, tensor(pq, b), "train") }),
        ...(teacherPositive === undefined ? {} : { teacherPositive }),
        ...(mix === undefined ? {} : { studentMix: embed(p.student, tensor(mix.mixed, b), "train"), mixLambda: mix.lambda }),
        ...(studentKey === undefined || p.studentKeyQueue === undefined ? {} : { studentKey, studentKeyQueue: p.studentKeyQueue.tensor })
      }
      const value = p.loss.compute(views)
      return {
        ...value,
        monitored: [
          ["student", studentAnchor],
          ["teacher", teacherAnchor]
        ]
      }
    },
    afterUpdate: () => {
      p.teacherQueue.enqueue(teacherAnchor)
      if (studentKey !== undefined) p.studentKeyQueue?.enqueue(studentKey)
      if (p.studentKey !== undefined) momentumUpdate(p.studentKey, p.student, p.studentKeyMomentum)
    }
  }
}
