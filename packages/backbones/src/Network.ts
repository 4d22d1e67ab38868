import type * as tf from "@tensorflow/tfjs"

/**
 * How batch norm behaves in a forward pass:
 * - "train": normalise with batch statistics and update the running statistics;
 * - "eval": normalise with the running statistics (the frozen-teacher default);
 * - "batch-stats": normalise with batch statistics but leave the running ones untouched
 *   (what the BINGO reference code does to its teacher by accident; kept as an option).
 */
export type ForwardMode = "train" | "eval" | "batch-stats"

/**
 * A network as bingo sees it: named parameters plus a pure forward function.
 * `params` maps a stable logical name (e.g. `layer1.0.conv1.weight`) to its variable; the
 * names are what checkpoints and weight import use. Trainable parameters are the ones with
 * `variable.trainable === true`; batch-norm running statistics are non-trainable.
 */
export interface Network {
  readonly name: string
  /** Width of the output vector. */
  readonly outputDim: number
  readonly params: ReadonlyMap<string, tf.Variable>
  /** Forward pass. Input NHWC for image backbones, [B, D] for heads. */
  readonly apply: (x: tf.Tensor, mode: ForwardMode) => tf.Tensor2D
  /**
   * The architecture as a list of layers over `params` names. The built-in networks run
   * their forward pass from it (`compileGraph`), and `toLayersModel` rebuilds it with
   * tf.layers for export. A hand-written network may leave it out; it then cannot be exported.
   */
  readonly graph?: ReadonlyArray<LayerOp>
}

/**
 * One layer of a network graph. Names refer to `Network.params`: a conv or depthwise conv
 * reads `weight` (HWIO, or [kh, kw, C, 1]); `batchNorm` reads `name.weight|bias|running_mean|running_var`;
 * `dense` reads `name.weight` [in, out] and `name.bias`. Padding is symmetric, PyTorch style;
 * `maxPool` pads with -infinity. `residual` adds `body(x)` and `shortcut(x)` (identity when empty).
 */
export type LayerOp =
  | { readonly op: "conv2d"; readonly weight: string; readonly stride: number; readonly padding: number }
  | { readonly op: "depthwiseConv2d"; readonly weight: string; readonly stride: number; readonly padding: number }
  | { readonly op: "batchNorm"; readonly name: string }
  | { readonly op: "relu" }
  | { readonly op: "relu6" }
  | { readonly op: "maxPool"; readonly size: number; readonly stride: number; readonly padding: number }
  | { readonly op: "residual"; readonly body: ReadonlyArray<LayerOp>; readonly shortcut: ReadonlyArray<LayerOp> }
  | { readonly op: "globalAvgPool" }
  | { readonly op: "flatten" }
  | { readonly op: "dense"; readonly name: string }

/** The trainable variables of a network, in a stable order. */
export const trainableVariables = (net: Network): Array<tf.Variable> => [...net.params.values()].filter((v) => v.trainable)

/** Dispose every variable a network owns. */
export const disposeNetwork = (net: Network): void => {
  for (const v of net.params.values()) v.dispose()
}

/** Copy every parameter of `from` into `to` (same architecture). */
export const copyWeights = (from: Network, to: Network): void => {
  for (const [name, v] of from.params) {
    const target = to.params.get(name)
    if (target === undefined) throw new Error(`copyWeights: '${name}' missing in ${to.name}`)
    target.assign(v)
  }
}

/** Number of learned scalars (weights and biases; batch-norm running statistics excluded), frozen or not. */
export const parameterCount = (net: Network): number =>
  [...net.params].reduce((n, [name, v]) => (isRunningStatistic(name) ? n : n + v.size), 0)

/** Batch-norm running statistics: state, not parameters. */
export const isRunningStatistic = (name: string): boolean => name.endsWith(".running_mean") || name.endsWith(".running_var")
