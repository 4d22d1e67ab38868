import type { EmbeddingHealthSummary } from "./TrainingHealth.ts"

/** The means of one finished epoch: what the log line, results.json and the health check read. */
export interface EpochSummary {
  /** 0-based. */
  readonly epoch: number
  readonly loss: number
  /** Each named term of the loss (unweighted), and named scalars such as BINGO's lambda and pair weights. */
  readonly terms: Readonly<Record<string, number>>
  /** The lr at the epoch's last step. */
  readonly lr: number
  readonly gradNorm: number
  /** By monitored network (the trained one first). */
  readonly embeddings: Readonly<Record<string, EmbeddingHealthSummary>>
  /** ln(Q + 1) for contrastive losses, when the objective knows it. */
  readonly collapseValue: number | null
  /**
   * Timings of the epoch's steps run by this process (null for an epoch finished before a resume).
   * Not checkpointed, so a checkpoint's bytes depend only on the training.
   */
  readonly imagesPerSecond: number | null
  readonly seconds: number | null
}

/** Running sums of the epoch in progress, so its means survive a resume. */
export interface EpochAccumulator {
  count: number
  loss: number
  gradNorm: number
  lr: number
  terms: Record<string, number>
  embeddings: Record<string, { spread: number; embeddingStd: number; dead: number }>
}

/** Where a run is: the position in the schedule, the RNG states and what finished epochs gave. */
export interface LoopProgress {
  /** Epoch in progress (0-based) and the number of its steps already done. */
  epoch: number
  stepInEpoch: number
  globalStep: number
  /** Order RNG as it was at the start of `epoch` (regenerates that epoch's plan). */
  orderRngAtEpochStart: Array<number>
  /** Augmentation RNG now. */
  augRng: Array<number>
  epochs: Array<EpochSummary>
  partial: EpochAccumulator
  /**
   * Native cpu threads the run computes with (`computeThreads`; absent on other backends and in
   * older checkpoints): float results depend on it, so a resumed run keeps it.
   */
  computeThreads?: number
}

/** Images and seconds of the epoch's steps run by this process (not checkpointed). */
export interface EpochTiming {
  images: number
  seconds: number
}

export const emptyAccumulator = (): EpochAccumulator => ({
  count: 0,
  loss: 0,
  gradNorm: 0,
  lr: 0,
  terms: {},
  embeddings: {}
})
