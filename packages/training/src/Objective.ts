import type * as tf from "@tensorflow/tfjs"
import type { Effect } from "effect"
import type { Rng } from "@bingo/runtime"
import type { EmbeddingQueue } from "@bingo/optim"

/**
 * What one training objective gives the loop ({@link runTrainingLoop}): which variables it trains,
 * what it checkpoints, how an epoch's steps are planned and how a step's views and loss are made.
 * MoCo pre-training, distillation and any future stage are objectives; the loop owns the epochs,
 * the lr schedule, gradients, the SGD update, health checks, checkpoints and reports.
 */
export interface Objective<In, E> {
  /** The variables SGD updates, by logical name (the checkpoint's and the momentum buffers' names). */
  readonly trainable: ReadonlyMap<string, tf.Variable>
  /** Every network to checkpoint, by prefix ("student", "studentKey"), trainable or not. */
  readonly networks: ReadonlyMap<string, ReadonlyMap<string, tf.Variable>>
  /** Queues to checkpoint, by name. */
  readonly queues: ReadonlyMap<string, EmbeddingQueue>
  /** The loss when every logit is equal (ln(Q + 1) for one positive and Q negatives), if known. */
  readonly collapseValue?: number | undefined
  /** Monitored networks that are frozen (distillation's teacher): their collapse is blamed on where they came from, not on the lr. */
  readonly frozenNetworks?: ReadonlyArray<string> | undefined
  /** Images one step consumes (for the images/s figure). */
  readonly imagesPerStep: number
  /** The epoch's steps, drawn from `orderRng` alone (so a resumed run redraws the same plan). */
  readonly planEpoch: (orderRng: Rng) => EpochPlan<In, E>
  /**
   * Optional, before the step's tf.tidy: the part of a step that may be asynchronous, such as a
   * frozen teacher running outside TF.js (onnxruntime), from the step's input and `augRng`.
   * Its result is the input `makeViews` receives. It must leave no tensor behind.
   */
  readonly prepare?: ((input: In, context: StepContext) => Effect.Effect<In, E>) | undefined
  /**
   * A step's views from its input: augmentations (from `augRng`) and the embeddings that take no
   * gradient (frozen teacher, momentum encoder). Called inside the loop's tf.tidy, after `prepare`.
   */
  readonly makeViews: (input: In, context: StepContext) => StepViews
}

/** The steps of one epoch; `take(step)` may read ahead (a dataset on disk). */
export interface EpochPlan<In, E> {
  readonly steps: number
  readonly take: (step: number) => Effect.Effect<In, E>
}

export interface StepContext {
  /** 0-based epoch and step within it. */
  readonly epoch: number
  readonly step: number
  readonly augRng: Rng
}

export interface StepViews {
  /** The differentiable part, run under tf.variableGrads: embed the trainable views, compute the loss. */
  readonly loss: () => LossOutput
  /** After a finite update: enqueue keys, move momentum encoders. */
  readonly afterUpdate?: () => void
}

export interface LossOutput {
  readonly total: tf.Scalar
  /** Named terms (each a scalar, unweighted), recorded per epoch. */
  readonly terms?: Readonly<Record<string, tf.Scalar>>
  /** Named plain numbers of the step (BINGO's lambda and pair weights), recorded per epoch. */
  readonly scalars?: Readonly<Record<string, number>>
  /** L2-normalised embeddings [B, D] whose health is watched, by name; the trained network's first. */
  readonly monitored: ReadonlyArray<readonly [string, tf.Tensor2D]>
}
