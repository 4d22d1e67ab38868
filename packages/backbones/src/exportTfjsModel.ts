import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { createHash } from "node:crypto"
import { readdirSync, rmSync } from "node:fs"
import { join } from "node:path"
import { atomicWrite } from "@bingo/runtime"
import { ModelExportError } from "./BackboneError.ts"
import type { Encoder } from "./Encoder.ts"
import type { LayerOp, Network } from "./Network.ts"
import { BN_EPSILON } from "./ops.ts"

/** What an exported model returns: pooled backbone features [B, F] and/or the L2-normalised embedding [B, D]. */
export type ExportedOutput = "features" | "embedding"

export interface LayersModelOptions {
  /** Outputs, in this order (default both: `[features, embedding]`); one output gives a single tensor. */
  readonly outputs?: ReadonlyArray<ExportedOutput>
}

/**
 * An equivalent `tf.LayersModel` of an encoder in eval mode, built from stock tf.layers only
 * (so `tf.loadLayersModel` in a browser or Node needs nothing from bingo): ZeroPadding2D +
 * Conv2D / DepthwiseConv2D ('valid', no bias) for PyTorch-style padded convolutions,
 * BatchNormalization (epsilon 1e-5, running statistics), ReLU / ReLU(maxValue 6), Add,
 * MaxPooling2D, GlobalAveragePooling2D, Flatten, Dense. Input: NHWC images named `image`.
 *
 * tf.layers has no L2-normalisation layer, so the embedding is normalised with stock layers:
 * z = [p, -p] has mean 0 and variance |p|^2 / D, so LayerNormalization (gamma = +-1/sqrt(D),
 * no beta) maps it to [p/|p|, p/|p|], and averaging the two halves gives p/|p|.
 *
 * The weights are shared with the encoder's variables until the encoder assigns new values
 * (TF.js tensors are immutable); dispose the model when done.
 */
export const toLayersModel = (encoder: Encoder, options: LayersModelOptions = {}): tf.LayersModel => {
  const outputs = options.outputs ?? ["features", "embedding"]
  if (outputs.length === 0) throw new Error("toLayersModel: at least one output is needed")
  const image = tf.input({ shape: [...encoder.spec.inputShape], name: "image" })
  const pooled = emitNetwork(encoder.backbone, image, "backbone")
  const features = tf.layers.activation({ activation: "linear", name: "features" }).apply(pooled) as tf.SymbolicTensor
  const built: Partial<Record<ExportedOutput, tf.SymbolicTensor>> = { features }
  if (outputs.includes("embedding")) {
    built.embedding = l2NormalizeLayers(emitNetwork(encoder.head, features, "head"), encoder.head.outputDim, "embedding")
  }
  return tf.model({ inputs: image, outputs: outputs.map((o) => built[o]!), name: `bingo_${encoder.spec.backbone.replace(/\W/g, "_")}` })
}

export interface ExportTfjsOptions extends LayersModelOptions {
  /** Stored under `userDefinedMetadata` in model.json (e.g. the preprocessing an app must apply). */
  readonly metadata?: Record<string, unknown>
}

export interface ExportedModel {
  readonly modelPath: string
  readonly weightsPath: string
  readonly weightBytes: number
}

/**
 * Write an encoder as a TF.js Layers model: `dir/model.json` and `dir/weights-<hash>.bin`.
 * The weights file is named by its content's SHA-256 and written before model.json, both with
 * `atomicWrite`, so a reader (or a run killed mid-export) always sees a model.json whose
 * weights file exists and matches; weight files of earlier exports are removed afterwards.
 * Metadata always records the input shape, the outputs, the backbone and the embedding size.
 */
export const exportTfjsModel = (encoder: Encoder, dir: string, options: ExportTfjsOptions = {}) =>
  Effect.gen(function* () {
    const fail = (reason: string) => new ModelExportError({ path: dir, reason })
    const model = yield* Effect.try({ try: () => toLayersModel(encoder, options), catch: (e) => fail((e as Error).message) })
    const outputs = options.outputs ?? ["features", "embedding"]
    model.setUserDefinedMetadata({
      bingo: {
        backbone: encoder.spec.backbone,
        inputShape: encoder.spec.inputShape,
        layout: "NHWC",
        outputs,
        featureDim: encoder.backbone.outputDim,
        embeddingDim: encoder.head.outputDim
      },
      ...options.metadata
    })
    const artifacts = yield* Effect.tryPromise({
      try: async () => {
        let captured: tf.io.ModelArtifacts | undefined
        await model.save(
          tf.io.withSaveHandler(async (a) => {
            captured = a
            return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } }
          })
        )
        return captured!
      },
      catch: (e) => fail(`cannot serialise the model: ${String(e)}`)
    }).pipe(Effect.ensuring(Effect.sync(() => model.dispose())))
    return yield* Effect.try({
      try: (): ExportedModel => {
        const weights = new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData ?? new ArrayBuffer(0)))
        const binName = `weights-${createHash("sha256").update(weights).digest("hex").slice(0, 16)}.bin`
        const modelJson: tf.io.ModelJSON = {
          modelTopology: artifacts.modelTopology as tf.io.ModelJSON["modelTopology"],
          format: artifacts.format ?? "layers-model",
          generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version_layers}`,
          convertedBy: "bingo",
          weightsManifest: [{ paths: [`./${binName}`], weights: artifacts.weightSpecs ?? [] }],
          ...(artifacts.userDefinedMetadata === undefined ? {} : { userDefinedMetadata: artifacts.userDefinedMetadata })
        }
        atomicWrite(join(dir, binName), weights)
        atomicWrite(join(dir, "model.json"), JSON.stringify(modelJson))
        for (const f of readdirSync(dir)) if (/^weights-[0-9a-f]+\.bin$/.test(f) && f !== binName) rmSync(join(dir, f), { force: true })
        return { modelPath: join(dir, "model.json"), weightsPath: join(dir, binName), weightBytes: weights.byteLength }
      },
      catch: (e) => fail(`cannot write: ${(e as Error).message}`)
    })
  })

/** Rebuild a network's graph with tf.layers, weights copied in. */
const emitNetwork = (net: Network, input: tf.SymbolicTensor, scope: string): tf.SymbolicTensor => {
  if (net.graph === undefined) throw new Error(`network '${net.name}' has no layer graph, so it cannot be exported`)
  const counts = new Map<string, number>()
  const auto = (kind: string) => {
    const n = (counts.get(kind) ?? 0) + 1
    counts.set(kind, n)
    return `${scope}_${kind}_${n}`
  }
  const named = (param: string) => `${scope}_${param.replace(/\.weight$/, "").replace(/\W/g, "_")}`
  const param = (name: string): tf.Tensor => {
    const v = net.params.get(name)
    if (v === undefined) throw new Error(`network '${net.name}' graph names a missing parameter '${name}'`)
    return v
  }
  /** Apply a layer, then give it our weights (build happens on apply). */
  const withWeights = (layer: tf.layers.Layer, x: tf.SymbolicTensor | Array<tf.SymbolicTensor>, weights: Array<tf.Tensor>) => {
    const y = layer.apply(x) as tf.SymbolicTensor
    if (weights.length > 0) layer.setWeights(weights)
    return y
  }
  const pad = (x: tf.SymbolicTensor, p: number) =>
    p > 0
      ? (tf.layers
          .zeroPadding2d({
            padding: [
              [p, p],
              [p, p]
            ],
            name: auto("pad")
          })
          .apply(x) as tf.SymbolicTensor)
      : x

  /** `nonNegative`: the input is a ReLU output, so zero padding equals -infinity padding for max pooling. */
  const emit = (ops: ReadonlyArray<LayerOp>, x0: tf.SymbolicTensor): tf.SymbolicTensor => {
    let x = x0
    let nonNegative = false
    for (const op of ops) {
      switch (op.op) {
        case "conv2d": {
          const k = param(op.weight)
          x = withWeights(
            tf.layers.conv2d({
              filters: k.shape[3]!,
              kernelSize: [k.shape[0]!, k.shape[1]!],
              strides: op.stride,
              padding: "valid",
              useBias: false,
              name: named(op.weight)
            }),
            pad(x, op.padding),
            [k]
          )
          break
        }
        case "depthwiseConv2d": {
          const k = param(op.weight)
          x = withWeights(
            tf.layers.depthwiseConv2d({
              kernelSize: [k.shape[0]!, k.shape[1]!],
              depthMultiplier: 1,
              strides: op.stride,
              padding: "valid",
              useBias: false,
              name: named(op.weight)
            }),
            pad(x, op.padding),
            [k]
          )
          break
        }
        case "batchNorm":
          x = withWeights(
            tf.layers.batchNormalization({ axis: -1, epsilon: BN_EPSILON, name: named(op.name) }),
            x,
            ["weight", "bias", "running_mean", "running_var"].map((s) => param(`${op.name}.${s}`))
          )
          break
        case "relu":
          x = tf.layers.reLU({ name: auto("relu") }).apply(x) as tf.SymbolicTensor
          break
        case "relu6":
          x = tf.layers.reLU({ maxValue: 6, name: auto("relu6") }).apply(x) as tf.SymbolicTensor
          break
        case "maxPool":
          if (op.padding > 0 && !nonNegative) throw new Error(`network '${net.name}': a padded max pool is only exportable after a ReLU`)
          x = tf.layers
            .maxPooling2d({ poolSize: op.size, strides: op.stride, padding: "valid", name: auto("maxpool") })
            .apply(pad(x, op.padding)) as tf.SymbolicTensor
          break
        case "residual": {
          const body = emit(op.body, x)
          const shortcut = op.shortcut.length === 0 ? x : emit(op.shortcut, x)
          x = tf.layers.add({ name: auto("add") }).apply([body, shortcut]) as tf.SymbolicTensor
          break
        }
        case "globalAvgPool":
          x = tf.layers.globalAveragePooling2d({ dataFormat: "channelsLast", name: auto("pool") }).apply(x) as tf.SymbolicTensor
          break
        case "flatten":
          if (x.shape.length > 2) x = tf.layers.flatten({ name: auto("flatten") }).apply(x) as tf.SymbolicTensor
          break
        case "dense": {
          const w = param(`${op.name}.weight`)
          x = withWeights(tf.layers.dense({ units: w.shape[1]!, useBias: true, name: named(op.name) }), x, [w, param(`${op.name}.bias`)])
          break
        }
      }
      nonNegative = op.op === "relu" || op.op === "relu6" || (op.op === "maxPool" && nonNegative)
    }
    return x
  }
  return emit(net.graph, input)
}

/** x / |x| over the last axis of a [B, D] symbolic tensor, with stock layers (see toLayersModel). */
const l2NormalizeLayers = (x: tf.SymbolicTensor, dim: number, name: string): tf.SymbolicTensor => {
  const negated = tf.layers.rescaling({ scale: -1, offset: 0, name: `${name}_negate` }).apply(x) as tf.SymbolicTensor
  const both = tf.layers.concatenate({ axis: -1, name: `${name}_pair` }).apply([x, negated]) as tf.SymbolicTensor
  const norm = tf.layers.layerNormalization({ axis: -1, epsilon: 1e-12, center: false, scale: true, name: `${name}_unit` })
  const unit = norm.apply(both) as tf.SymbolicTensor
  const s = 1 / Math.sqrt(dim)
  const gamma = tf.tidy(() => tf.concat([tf.fill([dim], s), tf.fill([dim], -s)]))
  norm.setWeights([gamma])
  gamma.dispose()
  const halves = tf.layers.reshape({ targetShape: [2, dim], name: `${name}_halves` }).apply(unit) as tf.SymbolicTensor
  return tf.layers.globalAveragePooling1d({ name }).apply(halves) as tf.SymbolicTensor
}
