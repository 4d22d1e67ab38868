import * as tf from "@tensorflow/tfjs"
import type { Rng } from "@bingo/runtime"
import type { Network } from "./Network.ts"
import { ParamStore } from "./ParamStore.ts"
import { batchNorm, conv2d, globalAvgPool } from "./ops.ts"

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
  const stages = options.widths.map((w, i) => ({
    kernel: store.conv(`conv${i}.weight`, 3, 3, i === 0 ? options.channels : options.widths[i - 1]!, w),
    bn: store.batchNorm(`bn${i}`, w),
    stride: i === 0 ? 1 : 2
  }))
  return {
    name,
    outputDim: options.widths[options.widths.length - 1]!,
    params: store.params,
    apply: (x, mode) =>
      tf.tidy(() => {
        let h = x as tf.Tensor4D
        for (const s of stages) h = tf.relu(batchNorm(conv2d(h, s.kernel as tf.Tensor4D, s.stride, 1), s.bn, mode)) as tf.Tensor4D
        return globalAvgPool(h)
      })
  }
}
