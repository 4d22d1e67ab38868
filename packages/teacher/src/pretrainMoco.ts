import { Effect } from "effect"
import { Rng } from "@bingo/runtime"
import type { AugmentConfig, ImageSource } from "@bingo/data"
import { cloneEncoder, createEncoder, disposeEncoder, type EncoderSpec } from "@bingo/backbones"
import { EmbeddingQueue, type OptimisationOptions } from "@bingo/optim"
import { type LoopRunOptions, loopOptions, runTrainingLoop } from "@bingo/training"
import { mocoObjective } from "./mocoObjective.ts"
import { TeacherDatasetTooSmall } from "./TeacherError.ts"

export interface MocoOptions extends OptimisationOptions, LoopRunOptions {
  readonly temperature: number
  /** Key-encoder EMA momentum (reference 0.999; 0.99 suits short runs). */
  readonly keyMomentum: number
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
export const pretrainMoco = Effect.fn("pretrainMoco")(function* (
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
  const fingerprint = JSON.stringify({
    spec,
    augment,
    queueSize: options.queueSize,
    temperature: options.temperature,
    keyMomentum: options.keyMomentum,
    n: dataset.size
  })
  const result = yield* runTrainingLoop(objective, loopOptions("teacher pre-training", options, seed, fingerprint)).pipe(
    Effect.onError(() => Effect.sync(() => disposeEncoder(query))),
    Effect.ensuring(
      Effect.sync(() => {
        disposeEncoder(key)
        queue.dispose()
      })
    )
  )
  return { encoder: query, epochs: result.epochs, finished: result.finished }
})
