import * as tf from "@tensorflow/tfjs"
import {
  type AugmentConfig,
  augmentBatch,
  type DatasetError,
  gatherAhead,
  type ImageSource,
  shuffledBatches,
  type StepImages
} from "@bingo/data"
import { embed, type Encoder, momentumUpdate } from "@bingo/backbones"
import { infoNce } from "@bingo/losses"
import type { EmbeddingQueue } from "@bingo/optim"
import { contrastiveCollapseValue, type Objective } from "@bingo/training"

export interface MocoParts {
  readonly dataset: ImageSource
  /** The encoder being trained (the teacher-to-be). */
  readonly query: Encoder
  /** Its momentum copy, which embeds the keys. */
  readonly key: Encoder
  readonly queue: EmbeddingQueue
  readonly augment: AugmentConfig
  readonly batchSize: number
  readonly temperature: number
  readonly keyMomentum: number
}

/**
 * MoCo-v2 (Chen et al. 2020, "Improved Baselines with Momentum Contrastive Learning") as an
 * objective of the training loop: two aug+ views of each image, the query encoder embeds one, the
 * momentum key encoder the other (no gradient), InfoNCE against the queue of past keys; after the
 * update the keys are enqueued and the key encoder moves towards the query encoder.
 * Single device, so no shuffle-BN (the key encoder runs in train mode on the whole batch).
 */
export const mocoObjective = (p: MocoParts): Objective<StepImages, DatasetError> => {
  const shape = [p.augment.outputSize, p.augment.outputSize, p.dataset.channels] as const
  return {
    trainable: new Map([...p.query.params].filter(([, v]) => v.trainable)),
    networks: new Map([
      ["query", p.query.params],
      ["key", p.key.params]
    ]),
    queues: new Map([["keys", p.queue]]),
    collapseValue: contrastiveCollapseValue(p.queue.size),
    imagesPerStep: p.batchSize,
    planEpoch: (orderRng) => {
      const batches = shuffledBatches(p.dataset.size, p.batchSize, orderRng, { dropLast: true })
      // each step's images, read one step ahead when the dataset is a store on disk
      return { steps: batches.length, take: gatherAhead(p.dataset, batches.length, (step) => batches[step]!).take }
    },
    makeViews: ({ images, rows }, { augRng }) => {
      const b = rows.length
      const xq = augmentBatch(images, rows, p.augment, augRng)
      const xk = augmentBatch(images, rows, p.augment, augRng)
      const k = embed(p.key, tf.tensor4d(xk, [b, ...shape]), "train")
      return {
        loss: () => {
          const q = embed(p.query, tf.tensor4d(xq, [b, ...shape]), "train")
          return { total: infoNce(q, k, p.queue.tensor, p.temperature), monitored: [["teacher", q]] }
        },
        afterUpdate: () => {
          p.queue.enqueue(k)
          momentumUpdate(p.key, p.query, p.keyMomentum)
        }
      }
    }
  }
}
