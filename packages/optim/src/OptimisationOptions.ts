/**
 * The optimisation settings shared by MoCo-v2 teacher pre-training and distillation: an epoch
 * budget, SGD with momentum and weight decay under cosine decay, and the queue of negatives.
 */
export interface OptimisationOptions {
  readonly epochs: number
  readonly batchSize: number
  /** Base learning rate at this batch size (reference: 0.03 at batch 256, scaled linearly). */
  readonly lr: number
  readonly momentum: number
  readonly weightDecay: number
  /** Rows of the queue of negatives (reference 65,536; scale down for small data). */
  readonly queueSize: number
}
