import * as tf from "@tensorflow/tfjs"
import type { Network } from "./Network.ts"
import { ParamStore } from "./ParamStore.ts"
import { dense } from "./ops.ts"
import type { Rng } from "@bingo/runtime"

export interface MlpOptions {
  readonly inputDim: number
  /** Hidden widths; the last one is the output width. */
  readonly widths: ReadonlyArray<number>
  readonly rng: Rng
  readonly name?: string
  /** Apply ReLU after the last layer too (a backbone) or not (a projection head). */
  readonly finalActivation?: boolean
}

/**
 * A multilayer perceptron on flattened input: Linear - ReLU - ... - Linear.
 * Used as a tiny backbone (on flattened images) and as the projection head
 * (Linear(d, hidden) - ReLU - Linear(hidden, 128), MoCo-v2 / BINGO).
 */
export const mlp = (options: MlpOptions): Network => {
  const name = options.name ?? "mlp"
  const store = new ParamStore(options.rng, name)
  const layers = options.widths.map((w, i) => store.dense(`fc${i}`, i === 0 ? options.inputDim : options.widths[i - 1]!, w))
  const finalActivation = options.finalActivation ?? false
  return {
    name,
    outputDim: options.widths[options.widths.length - 1]!,
    params: store.params,
    apply: (x) =>
      tf.tidy(() => {
        let h = x.reshape([x.shape[0]!, -1]) as tf.Tensor2D
        layers.forEach((layer, i) => {
          h = dense(h, layer)
          if (i < layers.length - 1 || finalActivation) h = tf.relu(h)
        })
        return h
      })
  }
}
