import * as tf from "@tensorflow/tfjs"
import type { Rng } from "@bingo/runtime"
import { mlp } from "./mlp.ts"
import { copyWeights, disposeNetwork, type ForwardMode, type Network } from "./Network.ts"
import { type BackboneOptions, createBackbone } from "./registry.ts"
import { l2Normalize } from "./ops.ts"

export interface EncoderSpec {
  readonly backbone: string
  readonly inputShape: readonly [number, number, number]
  readonly widthMultiplier?: number
  readonly stem?: BackboneOptions["stem"]
  /** Hidden width of the projection head (2048 in the paper; scale down for small nets). */
  readonly headHidden: number
  /** Embedding width (128 in the paper). Teacher and student must agree. */
  readonly embeddingDim: number
}

/**
 * Backbone + MLP projection head (Linear - ReLU - Linear), as the student and teacher of
 * BINGO and the encoders of MoCo-v2. `embed` returns both the pooled backbone features
 * (what bags are mined from and probes are trained on) and the L2-normalised embedding.
 */
export interface Encoder {
  readonly spec: EncoderSpec
  readonly backbone: Network
  readonly head: Network
  /** All parameters, backbone ones prefixed `backbone.`, head ones `head.`. */
  readonly params: ReadonlyMap<string, tf.Variable>
}

export const createEncoder = (spec: EncoderSpec, rng: Rng, name = "encoder"): Encoder => {
  const backbone = createBackbone(spec.backbone, {
    inputShape: spec.inputShape,
    rng,
    ...(spec.widthMultiplier === undefined ? {} : { widthMultiplier: spec.widthMultiplier }),
    ...(spec.stem === undefined ? {} : { stem: spec.stem }),
    name: `${name}.backbone`
  })
  const head = mlp({ inputDim: backbone.outputDim, widths: [spec.headHidden, spec.embeddingDim], rng, name: `${name}.head` })
  const params = new Map<string, tf.Variable>()
  for (const [k, v] of backbone.params) params.set(`backbone.${k}`, v)
  for (const [k, v] of head.params) params.set(`head.${k}`, v)
  return { spec, backbone, head, params }
}

/** L2-normalised embedding of a batch NHWC [B, H, W, C] -> [B, embeddingDim]. */
export const embed = (encoder: Encoder, x: tf.Tensor4D, mode: ForwardMode): tf.Tensor2D =>
  tf.tidy(() => l2Normalize(encoder.head.apply(encoder.backbone.apply(x, mode), mode)))

/** Pooled backbone features [B, featureDim] (no head, no normalisation). */
export const features = (encoder: Encoder, x: tf.Tensor4D, mode: ForwardMode): tf.Tensor2D => encoder.backbone.apply(x, mode)

export const encoderTrainableVariables = (encoder: Encoder): Array<tf.Variable> => [...encoder.params.values()].filter((v) => v.trainable)

export const disposeEncoder = (encoder: Encoder): void => {
  disposeNetwork(encoder.backbone)
  disposeNetwork(encoder.head)
}

/** A second encoder with the same architecture and weights (e.g. a momentum key encoder). */
export const cloneEncoder = (encoder: Encoder, rng: Rng, name: string): Encoder => {
  const copy = createEncoder(encoder.spec, rng, name)
  copyWeights(encoder.backbone, copy.backbone)
  copyWeights(encoder.head, copy.head)
  return copy
}

/** Momentum update of a key encoder: k <- m k + (1 - m) q, for every parameter (BN stats included). */
export const momentumUpdate = (key: Encoder, query: Encoder, momentum: number): void => {
  tf.tidy(() => {
    for (const [name, kv] of key.params) {
      const qv = query.params.get(name)!
      kv.assign(tf.add(tf.mul(kv, momentum), tf.mul(qv, 1 - momentum)))
    }
  })
}

/** Run a function over a large array of images in batches and collect a [N, D] Float32Array. */
export const mapBatches = async (
  images: Float32Array,
  n: number,
  shape: readonly [number, number, number],
  batchSize: number,
  f: (x: tf.Tensor4D) => tf.Tensor2D
): Promise<{ readonly values: Float32Array; readonly dim: number }> => {
  const per = shape[0] * shape[1] * shape[2]
  let out: Float32Array | undefined
  let dim = 0
  for (let start = 0; start < n; start += batchSize) {
    const end = Math.min(n, start + batchSize)
    const y = tf.tidy(() => f(tf.tensor4d(images.subarray(start * per, end * per), [end - start, ...shape])))
    const data = (await y.data()) as Float32Array
    dim = y.shape[1]
    y.dispose()
    out ??= new Float32Array(n * dim)
    out.set(data, start * dim)
  }
  return { values: out ?? new Float32Array(0), dim }
}
