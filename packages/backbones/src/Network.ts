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
}

/** The trainable variables of a network, in a stable order. */
export const trainableVariables = (net: Network): Array<tf.Variable> =>
  [...net.params.values()].filter((v) => v.trainable)

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
