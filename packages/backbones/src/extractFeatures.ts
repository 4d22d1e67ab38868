import { type AugmentConfig, centerView, type ImageSource, mapChunks } from "@bingo/data"
import { Effect } from "effect"
import { type Encoder, features, mapBatches } from "./Encoder.ts"

/**
 * Frozen backbone features of every image of `dataset` (center views, `centerView(view)`;
 * batch-norm running stats): N x dim, in batches of 256, gathered 4,096 images at a time (a store
 * on disk holds one chunk of pixels at a time; the batches, and so the features, are the same as
 * without chunks). Long passes log progress under `progress`. The teacher's embedding pass for
 * bag mining and evaluation's kNN and linear probes both read these.
 */
export const extractFeatures = (encoder: Encoder, dataset: ImageSource, view: AugmentConfig, progress = `features of ${dataset.name}`) =>
  mapChunks(
    dataset,
    4096,
    (chunk) =>
      Effect.promise(() =>
        mapBatches(
          centerView(
            chunk,
            Array.from({ length: chunk.size }, (_, i) => i),
            view
          ),
          chunk.size,
          [view.outputSize, view.outputSize, dataset.channels],
          256,
          (x) => features(encoder, x, "eval")
        )
      ),
    { progress }
  )
