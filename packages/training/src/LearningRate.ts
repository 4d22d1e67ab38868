import { type LrScaling, type OptimisationOptions, scaledLr } from "@bingo/optim"

/**
 * The learning-rate schedule of every training loop: an optional linear scaling of the base lr
 * by the batch size, a linear warm-up, then per-epoch cosine decay.
 *
 *   peak  = lr                          (lrScaling "none": the lr as given, at this batch size)
 *   peak  = lr * batchSize / 256        (lrScaling "per-256": lr given per 256 images, the linear
 *                                        scaling rule of Goyal et al. 2017 that MoCo / SimCLR use)
 *   lr(e, s) = peak * 0.5 * (1 + cos(pi * e / epochs)) * min(1, (e + (s + 1) / S) / warmupEpochs)
 *
 * for step s (0-based) of S steps in epoch e. Within an epoch the cosine factor is constant, as in
 * the BINGO / MoCo references (they step the schedule per epoch); the warm-up ramps per step, from
 * peak / (warmupEpochs * S) at the first step to the full cosine value at the end of the warm-up.
 * warmupEpochs 0 gives the reference schedule exactly.
 */
export interface LrSchedule {
  readonly lr: number
  readonly lrScaling: LrScaling
  readonly warmupEpochs: number
  readonly epochs: number
  readonly batchSize: number
}

export type { LrScaling }

/** The rate the schedule peaks at: `lr` scaled to the batch size under "per-256". */
export const peakLr = (s: Pick<LrSchedule, "lr" | "lrScaling" | "batchSize">): number =>
  s.lrScaling === "per-256" ? scaledLr(s.lr, s.batchSize) : s.lr

/** The rate of step `step` (0-based) of `stepsPerEpoch` in epoch `epoch` (0-based). */
export const scheduledLr = (s: LrSchedule, epoch: number, step: number, stepsPerEpoch: number): number => {
  const cosine = 0.5 * (1 + Math.cos((Math.PI * epoch) / s.epochs))
  const progress = epoch + (step + 1) / Math.max(1, stepsPerEpoch)
  const warm = s.warmupEpochs > 0 ? Math.min(1, progress / s.warmupEpochs) : 1
  return peakLr(s) * cosine * warm
}

/** The schedule of a stage's optimisation settings (absent scaling: "none"; absent warm-up: 0). */
export const scheduleOf = (o: OptimisationOptions): LrSchedule => ({
  lr: o.lr,
  lrScaling: o.lrScaling ?? "none",
  warmupEpochs: o.lrWarmupEpochs ?? 0,
  epochs: o.epochs,
  batchSize: o.batchSize
})
