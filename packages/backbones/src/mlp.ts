import type { Rng } from "@bingo/runtime"
import { graphNetwork } from "./compileGraph.ts"
import type { LayerOp, Network } from "./Network.ts"
import { ParamStore } from "./ParamStore.ts"

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
  const finalActivation = options.finalActivation ?? false
  const graph: Array<LayerOp> = [{ op: "flatten" }]
  options.widths.forEach((w, i) => {
    store.dense(`fc${i}`, i === 0 ? options.inputDim : options.widths[i - 1]!, w)
    graph.push({ op: "dense", name: `fc${i}` })
    if (i < options.widths.length - 1 || finalActivation) graph.push({ op: "relu" })
  })
  return graphNetwork(name, options.widths[options.widths.length - 1]!, store.params, graph)
}
