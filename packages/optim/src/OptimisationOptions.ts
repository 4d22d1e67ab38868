/**
 * The optimisation settings shared by MoCo-v2 teacher pre-training and distillation: an epoch
 * budget, SGD with momentum and weight decay under cosine decay, and the queue of negatives.
 */
export interface OptimisationOptions {
  readonly epochs: number
  readonly batchSize: number
  /** Base learning rate: at this batch size (`lrScaling` "none", the default), or per 256 images ("per-256"). */
  readonly lr: number
  /** How `lr` is read (see @bingo/training's LearningRate.ts). */
  readonly lrScaling?: LrScaling
  /** Linear lr warm-up over this many epochs (default 0). */
  readonly lrWarmupEpochs?: number
  readonly momentum: number
  readonly weightDecay: number
  /** Rows of the queue of negatives (reference 65,536; scale down for small data). */
  readonly queueSize: number
}

/** "none": `lr` is the rate at the run's batch size; "per-256": `lr` is per 256 images (the linear scaling rule). */
export type LrScaling = "none" | "per-256"
