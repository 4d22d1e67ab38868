import * as tf from "@tensorflow/tfjs"
import { type AugmentConfig, centerView, type ImageSource, mapChunks } from "@bingo/data"
import { Effect } from "effect"
import { type Encoder, features } from "./Encoder.ts"

/**
 * Features [B, D] of a batch of center views [B, H, W, C] (NHWC, normalised): a TF.js network's
 * forward pass, or a network running in another runtime (an ONNX teacher in onnxruntime). The
 * caller disposes both the views and the result.
 */
export type BatchFeatures<E> = (views: tf.Tensor4D) => Effect.Effect<tf.Tensor2D, E>

/** Images per batch of `extractFeatures`. */
export const featureBatchSize = 256

/**
 * Frozen backbone features of every image of `dataset` (center views, `centerView(view)`;
 * batch-norm running stats): N x dim, in batches of 256, gathered 4,096 images at a time (a store
 * on disk holds one chunk of pixels at a time; the batches, and so the features, are the same as
 * without chunks). Long passes log progress under `progress`. The teacher's embedding pass for
 * bag mining and evaluation's kNN and linear probes both read these.
 */
export const extractFeatures = (encoder: Encoder, dataset: ImageSource, view: AugmentConfig, progress = `features of ${dataset.name}`) =>
  extractFeaturesWith((x) => Effect.sync(() => tf.tidy(() => features(encoder, x, "eval"))), dataset, view, progress)

/** {@link extractFeatures} with any batch function: the same center views, batches and chunks. */
export const extractFeaturesWith = <E>(
  batchFeatures: BatchFeatures<E>,
  dataset: ImageSource,
  view: AugmentConfig,
  progress = `features of ${dataset.name}`
) =>
  mapChunks(
    dataset,
    4096,
    (chunk) =>
      Effect.gen(function* () {
        const images = centerView(
          chunk,
          Array.from({ length: chunk.size }, (_, i) => i),
          view
        )
        const shape = [view.outputSize, view.outputSize, dataset.channels] as const
        const per = shape[0] * shape[1] * shape[2]
        let out: Float32Array | undefined
        let dim = 0
        for (let start = 0; start < chunk.size; start += featureBatchSize) {
          const end = Math.min(chunk.size, start + featureBatchSize)
          const y = yield* Effect.acquireUseRelease(
            Effect.sync(() => tf.tensor4d(images.subarray(start * per, end * per), [end - start, ...shape])),
            batchFeatures,
            (x) => Effect.sync(() => x.dispose())
          )
          const data = yield* Effect.promise(() => y.data() as Promise<Float32Array>).pipe(Effect.ensuring(Effect.sync(() => y.dispose())))
          dim = y.shape[1]
          out ??= new Float32Array(chunk.size * dim)
          out.set(data, start * dim)
        }
        return { values: out ?? new Float32Array(0), dim }
      }),
    { progress }
  )
