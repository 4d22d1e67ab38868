import type { Rng } from "@bingo/runtime"
import { graphNetwork } from "./compileGraph.ts"
import type { LayerOp, Network } from "./Network.ts"
import { ParamStore } from "./ParamStore.ts"

export interface ConvNetOptions {
  readonly channels: number
  /** Output channels of each 3x3 conv-BN-ReLU stage; stages after the first use stride 2. */
  readonly widths: ReadonlyArray<number>
  readonly rng: Rng
  readonly name?: string
}

/** A small CNN: [conv3x3 - BN - ReLU] per stage (stride 2 after the first), global average pool. */
export const convnet = (options: ConvNetOptions): Network => {
  const name = options.name ?? "convnet"
  const store = new ParamStore(options.rng, name)
  const graph: Array<LayerOp> = options.widths.flatMap((w, i): Array<LayerOp> => {
    store.conv(`conv${i}.weight`, 3, 3, i === 0 ? options.channels : options.widths[i - 1]!, w)
    store.batchNorm(`bn${i}`, w)
    return [
      { op: "conv2d", weight: `conv${i}.weight`, stride: i === 0 ? 1 : 2, padding: 1 },
      { op: "batchNorm", name: `bn${i}` },
      { op: "relu" }
    ]
  })
  graph.push({ op: "globalAvgPool" })
  return graphNetwork(name, options.widths[options.widths.length - 1]!, store.params, graph)
}
