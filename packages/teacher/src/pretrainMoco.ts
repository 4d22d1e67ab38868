import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import type { Rng } from "@bingo/runtime"
import { type AugmentConfig, augmentBatch, gatherAhead, type ImageSource, shuffledBatches } from "@bingo/data"
import { cloneEncoder, createEncoder, disposeEncoder, embed, type EncoderSpec, momentumUpdate } from "@bingo/backbones"
import { infoNce } from "@bingo/losses"
import { cosineLr, EmbeddingQueue, type OptimisationOptions, Sgd } from "@bingo/optim"
import { TeacherDatasetTooSmall, TeacherTrainingDiverged } from "./TeacherError.ts"

export interface MocoOptions extends OptimisationOptions {
  readonly temperature: number
  /** Key-encoder EMA momentum (reference 0.999; 0.99 suits short runs). */
  readonly keyMomentum: number
  /** Log a progress line every this many steps (0: once per epoch). */
  readonly logEvery?: number
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
 * Pre-train an encoder with MoCo-v2 (Chen et al. 2020, "Improved Baselines with Momentum
 * Contrastive Learning"): query encoder trained with InfoNCE against a momentum key encoder
 * and a queue of past keys; aug+ augmentations; SGD with cosine decay. Returns the query
 * encoder (the caller owns it). Single-device: no shuffle-BN.
 */
export const pretrainMoco = Effect.fn("pretrainMoco")(function*(
  dataset: ImageSource,
  spec: EncoderSpec,
  augment: AugmentConfig,
  options: MocoOptions,
  rng: Rng
) {
  if (dataset.size < options.batchSize) return yield* new TeacherDatasetTooSmall({ datasetN: dataset.size, batchSize: options.batchSize })
  const query = createEncoder(spec, rng, "teacher")
  const key = cloneEncoder(query, rng, "teacher-key")
  const queue = EmbeddingQueue.random(options.queueSize, spec.embeddingDim, rng)
  const sgd = new Sgd({ momentum: options.momentum, weightDecay: options.weightDecay })
  const trainable = new Map([...query.params].filter(([, v]) => v.trainable))
  const shape = [augment.outputSize, augment.outputSize, dataset.channels] as const
  const train = Effect.gen(function*() {
    for (let epoch = 0; epoch < options.epochs; epoch++) {
      const lr = cosineLr(options.lr, epoch, options.epochs)
      const batches = shuffledBatches(dataset.size, options.batchSize, rng, { dropLast: true })
      // each step's images, read one step ahead when the dataset is a store on disk
      const images = gatherAhead(dataset, batches.length, (step) => batches[step]!)
      let lossSum = 0
      const t0 = performance.now()
      for (let step = 0; step < batches.length; step++) {
        const b = batches[step]!.length
        const { images: batch, rows } = yield* images.take(step)
        const xq = augmentBatch(batch, rows, augment, rng)
        const xk = augmentBatch(batch, rows, augment, rng)
        const loss = tf.tidy(() => {
          const k = tf.keep(embed(key, tf.tensor4d(xk, [b, ...shape]), "train"))
          const { value, grads } = tf.variableGrads(
            () => infoNce(embed(query, tf.tensor4d(xq, [b, ...shape]), "train"), k, queue.tensor, options.temperature),
            [...trainable.values()]
          )
          const named = new Map([...trainable].map(([n, v]) => [n, grads[v.name]!]))
          sgd.step(named, trainable, lr)
          queue.enqueue(k)
          k.dispose()
          return value.dataSync()[0]!
        })
        if (!Number.isFinite(loss)) return yield* new TeacherTrainingDiverged({ epoch, step, loss })
        momentumUpdate(key, query, options.keyMomentum)
        lossSum += loss
        if (options.logEvery !== undefined && options.logEvery > 0 && (step + 1) % options.logEvery === 0) {
          yield* Effect.logInfo(`teacher moco epoch ${epoch + 1}/${options.epochs} step ${step + 1}/${batches.length} loss ${loss.toFixed(4)}`)
        }
        yield* Effect.yieldNow
      }
      const secs = (performance.now() - t0) / 1000
      yield* Effect.logInfo(
        `teacher moco epoch ${epoch + 1}/${options.epochs} loss ${(lossSum / Math.max(1, batches.length)).toFixed(4)} lr ${lr.toFixed(4)} ` +
          `(${((batches.length * options.batchSize) / secs).toFixed(0)} img/s)`
      )
    }
    return query
  })
  return yield* train.pipe(
    Effect.onError(() => Effect.sync(() => disposeEncoder(query))),
    Effect.ensuring(Effect.sync(() => {
      disposeEncoder(key)
      queue.dispose()
      sgd.dispose()
    }))
  )
})

