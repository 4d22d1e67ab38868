import * as tf from "@tensorflow/tfjs"
import { Context, Effect, Layer } from "effect"
import { existsSync } from "node:fs"
import { Rng } from "@bingo/runtime"
import {
  createEncoder,
  disposeEncoder,
  embed,
  type Encoder,
  type EncoderSpec,
  features,
  loadWeights,
  mapBatches,
  saveWeights
} from "@bingo/backbones"
import { type AugmentConfig, centerView, DatasetSource, type ImageDataset } from "@bingo/data"
import { type MocoOptions, pretrainMoco } from "./pretrainMoco.ts"

/** How the frozen teacher's batch norm behaves (see METHOD.md: running stats are the principled default). */
export type TeacherBnMode = "eval" | "batch-stats"

/**
 * The frozen teacher of a distillation run. It is never updated: `embedKeys` gives the
 * L2-normalised head embeddings the losses compare against, `embedDataset` the pooled backbone
 * features bags are mined from (deterministic preprocessing, no augmentation).
 */
export class Teacher extends Context.Service<Teacher, {
  readonly encoder: Encoder
  readonly bnMode: TeacherBnMode
  /** Teacher embeddings [B, D] of a batch of augmented views (no gradient flows into the teacher). */
  readonly embedKeys: (x: tf.Tensor4D) => tf.Tensor2D
  /** Backbone features of every image of a dataset (center views), [N, featureDim]. */
  readonly embedDataset: (
    dataset: ImageDataset,
    view: AugmentConfig
  ) => Effect.Effect<{ readonly values: Float32Array; readonly dim: number }>
}>()("@bingo/teacher/Teacher") {
  /** A teacher around an encoder produced by `acquire`; the encoder is disposed with the layer. */
  static readonly fromEncoder = <E, R>(acquire: Effect.Effect<Encoder, E, R>, bnMode: TeacherBnMode = "eval") =>
    Layer.effect(
      Teacher,
      Effect.gen(function*() {
        const encoder = yield* Effect.acquireRelease(acquire, (e) => Effect.sync(() => disposeEncoder(e)))
        for (const v of encoder.params.values()) v.trainable = false
        const embedDataset = Effect.fn("Teacher.embedDataset")(function*(dataset: ImageDataset, view: AugmentConfig) {
          const shape = [view.outputSize, view.outputSize, dataset.channels] as const
          const batch = 256
          const images = centerView(dataset, Array.from({ length: dataset.size }, (_, i) => i), view)
          return yield* Effect.promise(() => mapBatches(images, dataset.size, shape, batch, (x) => features(encoder, x, "eval")))
        })
        return Teacher.of({
          encoder,
          bnMode,
          embedKeys: (x) => tf.tidy(() => embed(encoder, x, bnMode)),
          embedDataset
        })
      })
    )

  /** A teacher loaded from a .safetensors file of an encoder with this spec. */
  static readonly layerPretrained = (options: { readonly spec: EncoderSpec; readonly weights: string; readonly bnMode?: TeacherBnMode }) =>
    Teacher.fromEncoder(
      Effect.gen(function*() {
        const encoder = createEncoder(options.spec, Rng.fromSeed(0), "teacher")
        yield* loadWeights(options.weights, encoder.params).pipe(Effect.onError(() => Effect.sync(() => disposeEncoder(encoder))))
        yield* Effect.logInfo(`teacher: loaded ${options.weights}`)
        return encoder
      }),
      options.bnMode
    )

  /**
   * A teacher pre-trained here with MoCo-v2 on the DatasetSource's train split. With
   * `weightsPath`, finished weights are saved there and reused on the next run (so a
   * re-run or a resumed pipeline skips pre-training).
   */
  static readonly layerMoco = (options: {
    readonly spec: EncoderSpec
    readonly augment: AugmentConfig
    readonly moco: MocoOptions
    readonly seed: number
    readonly weightsPath?: string
    readonly bnMode?: TeacherBnMode
  }) =>
    Teacher.fromEncoder(
      Effect.gen(function*() {
        const path = options.weightsPath
        if (path !== undefined && existsSync(path)) {
          const encoder = createEncoder(options.spec, Rng.fromSeed(0), "teacher")
          yield* loadWeights(path, encoder.params).pipe(Effect.onError(() => Effect.sync(() => disposeEncoder(encoder))))
          yield* Effect.logInfo(`teacher: reusing pre-trained weights ${path}`)
          return encoder
        }
        const { train } = yield* (yield* DatasetSource).load
        yield* Effect.logInfo(`teacher: MoCo-v2 pre-training ${options.spec.backbone} on ${train.name} (${train.size} images, ${options.moco.epochs} epochs)`)
        const encoder = yield* pretrainMoco(train, options.spec, options.augment, options.moco, Rng.fromSeed(options.seed))
        if (path !== undefined) {
          yield* saveWeights(path, encoder.params, { spec: JSON.stringify(options.spec) }).pipe(
            Effect.onError(() => Effect.sync(() => disposeEncoder(encoder)))
          )
          yield* Effect.logInfo(`teacher: saved ${path}`)
        }
        return encoder
      }),
      options.bnMode
    )

  /** A randomly initialised small teacher (16x16x1 inputs, 16-d embeddings): for other packages' tests. */
  static readonly layerTest = Teacher.fromEncoder(
    Effect.sync(() =>
      createEncoder({ backbone: "convnet-small", inputShape: [16, 16, 1], widthMultiplier: 0.5, headHidden: 32, embeddingDim: 16 }, Rng.fromSeed(1), "teacher")
    )
  )
}
