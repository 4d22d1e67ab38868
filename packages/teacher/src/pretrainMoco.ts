import { Effect } from "effect"
import { Rng } from "@bingo/runtime"
import type { AugmentConfig, ImageSource } from "@bingo/data"
import { cloneEncoder, createEncoder, disposeEncoder, type EncoderSpec } from "@bingo/backbones"
import { EmbeddingQueue, type OptimisationOptions } from "@bingo/optim"
import { type HealthThresholds, type LrScaling, runTrainingLoop, type StepReport } from "@bingo/training"
import { mocoObjective } from "./mocoObjective.ts"
import { TeacherDatasetTooSmall } from "./TeacherError.ts"

export interface MocoOptions extends OptimisationOptions {
  readonly temperature: number
  /** Key-encoder EMA momentum (reference 0.999; 0.99 suits short runs). */
  readonly keyMomentum: number
  /** How `lr` is read: as given ("none", default) or per 256 images ("per-256"). */
  readonly lrScaling?: LrScaling
  /** Linear lr warm-up over this many epochs (default 0). */
  readonly lrWarmupEpochs?: number
  /** Log a progress line every this many steps (0: once per epoch). */
  readonly logEvery?: number
  /** Checkpoint here (atomically) every `checkpointEverySteps` steps and at each epoch end; resumed when present. */
  readonly checkpointPath?: string
  readonly checkpointEverySteps?: number
  readonly health?: Partial<HealthThresholds>
  readonly onStep?: (report: StepReport) => void
  /** Stop after this many steps in this process (tests of resumption). */
  readonly stopAfterSteps?: number
}

export const mocoDefaults: MocoOptions = {
  epochs: 10,
  batchSize: 128,
  lr: 0.06,
  momentum: 0.9,
  weightDecay: 1e-4,
  queueSize: 4096,
  temperature: 0.2,
  keyMomentum: 0.99
}

/**
 * Pre-train an encoder with MoCo-v2 ({@link mocoObjective}) in the training loop: SGD with the
 * loop's lr schedule, health checks, and checkpoints at `checkpointPath` from which a killed run
 * resumes exactly. The encoder is initialised from `seed`; the loop's order and augmentation RNGs
 * are seed + 1 and seed + 2. Returns the query encoder (the caller owns it), or undefined when
 * stopped early by `stopAfterSteps`.
 */
export const pretrainMoco = Effect.fn("pretrainMoco")(function*(
  dataset: ImageSource,
  spec: EncoderSpec,
  augment: AugmentConfig,
  options: MocoOptions,
  seed: number
) {
  if (dataset.size < options.batchSize) return yield* new TeacherDatasetTooSmall({ datasetN: dataset.size, batchSize: options.batchSize })
  const rng = Rng.fromSeed(seed)
  const query = createEncoder(spec, rng, "teacher")
  const key = cloneEncoder(query, rng, "teacher-key")
  const queue = EmbeddingQueue.random(options.queueSize, spec.embeddingDim, rng)
  const objective = mocoObjective({
    dataset,
    query,
    key,
    queue,
    augment,
    batchSize: options.batchSize,
    temperature: options.temperature,
    keyMomentum: options.keyMomentum
  })
  const result = yield* runTrainingLoop(objective, {
    stage: "teacher pre-training",
    schedule: {
      lr: options.lr,
      lrScaling: options.lrScaling ?? "none",
      warmupEpochs: options.lrWarmupEpochs ?? 0,
      epochs: options.epochs,
      batchSize: options.batchSize
    },
    momentum: options.momentum,
    weightDecay: options.weightDecay,
    seed,
    fingerprint: JSON.stringify({
      spec,
      augment,
      queueSize: options.queueSize,
      temperature: options.temperature,
      keyMomentum: options.keyMomentum,
      n: dataset.size
    }),
    checkpointPath: options.checkpointPath,
    checkpointEverySteps: options.checkpointEverySteps,
    logEvery: options.logEvery,
    stopAfterSteps: options.stopAfterSteps,
    onStep: options.onStep,
    health: options.health
  }).pipe(
    Effect.onError(() => Effect.sync(() => disposeEncoder(query))),
    Effect.ensuring(Effect.sync(() => {
      disposeEncoder(key)
      queue.dispose()
    }))
  )
  return { encoder: query, epochs: result.epochs, finished: result.finished }
})
