import * as tf from "@tensorflow/tfjs"
import type { Rng } from "@bingo/runtime"
import type { ForwardMode, Network } from "./Network.ts"
import { type BatchNormParams, ParamStore } from "./ParamStore.ts"
import { batchNorm, conv2d, globalAvgPool } from "./ops.ts"

export type ResNetStem = "imagenet" | "cifar"

export interface ResNetConfig {
  readonly block: "basic" | "bottleneck"
  /** Blocks per stage, e.g. [2, 2, 2, 2] for ResNet-18. */
  readonly layers: readonly [number, number, number, number]
}

export interface ResNetOptions {
  readonly channels: number
  /** "imagenet": 7x7/2 conv + 3x3/2 max pool; "cifar": 3x3/1 conv, no pool. */
  readonly stem: ResNetStem
  /** Multiplies every stage width (64-128-256-512 at 1). */
  readonly widthMultiplier?: number
  readonly rng: Rng
  readonly name?: string
}

interface Conv {
  readonly kernel: tf.Variable
  readonly stride: number
  readonly pad: number
}

interface Block {
  readonly convs: ReadonlyArray<{ readonly conv: Conv; readonly bn: BatchNormParams }>
  readonly downsample?: { readonly conv: Conv; readonly bn: BatchNormParams }
}

/**
 * ResNet (He et al. 2016) with torchvision's parameter names and layout choices
 * (stride on the 3x3 conv of a bottleneck, 1x1 conv + BN shortcut), so torchvision / MoCo
 * checkpoints import by name. Output: globally pooled features.
 */
export const resnet = (config: ResNetConfig, options: ResNetOptions): Network => {
  const name = options.name ?? "resnet"
  const store = new ParamStore(options.rng, name)
  const m = options.widthMultiplier ?? 1
  const widths = [64, 128, 256, 512].map((w) => Math.max(1, Math.round(w * m)))
  const expansion = config.block === "basic" ? 1 : 4
  const stemWidth = widths[0]!
  const conv = (pname: string, k: number, cin: number, cout: number, stride: number): Conv => ({
    kernel: store.conv(`${pname}.weight`, k, k, cin, cout),
    stride,
    pad: Math.floor(k / 2)
  })
  const stem = options.stem === "imagenet"
    ? { conv: conv("conv1", 7, options.channels, stemWidth, 2), bn: store.batchNorm("bn1", stemWidth) }
    : { conv: conv("conv1", 3, options.channels, stemWidth, 1), bn: store.batchNorm("bn1", stemWidth) }

  const blocks: Array<Block> = []
  let cin = stemWidth
  config.layers.forEach((count, stage) => {
    const width = widths[stage]!
    for (let b = 0; b < count; b++) {
      const stride = b === 0 && stage > 0 ? 2 : 1
      const prefix = `layer${stage + 1}.${b}`
      const cout = width * expansion
      const convs = config.block === "basic"
        ? [
          { conv: conv(`${prefix}.conv1`, 3, cin, width, stride), bn: store.batchNorm(`${prefix}.bn1`, width) },
          { conv: conv(`${prefix}.conv2`, 3, width, width, 1), bn: store.batchNorm(`${prefix}.bn2`, width) }
        ]
        : [
          { conv: conv(`${prefix}.conv1`, 1, cin, width, 1), bn: store.batchNorm(`${prefix}.bn1`, width) },
          { conv: conv(`${prefix}.conv2`, 3, width, width, stride), bn: store.batchNorm(`${prefix}.bn2`, width) },
          { conv: conv(`${prefix}.conv3`, 1, width, cout, 1), bn: store.batchNorm(`${prefix}.bn3`, cout) }
        ]
      const downsample = stride !== 1 || cin !== cout
        ? { conv: conv(`${prefix}.downsample.0`, 1, cin, cout, stride), bn: store.batchNorm(`${prefix}.downsample.1`, cout) }
        : undefined
      blocks.push(downsample === undefined ? { convs } : { convs, downsample })
      cin = cout
    }
  })

  const convBn = (x: tf.Tensor4D, c: { readonly conv: Conv; readonly bn: BatchNormParams }, mode: ForwardMode) =>
    batchNorm(conv2d(x, c.conv.kernel as tf.Tensor4D, c.conv.stride, c.conv.pad), c.bn, mode) as tf.Tensor4D

  return {
    name,
    outputDim: cin,
    params: store.params,
    apply: (x, mode) =>
      tf.tidy(() => {
        let h = tf.relu(convBn(x as tf.Tensor4D, stem, mode)) as tf.Tensor4D
        if (options.stem === "imagenet") {
          h = tf.maxPool(tf.pad(h, [[0, 0], [1, 1], [1, 1], [0, 0]], -Infinity), 3, 2, "valid")
        }
        for (const block of blocks) {
          let y = h
          block.convs.forEach((c, i) => {
            y = convBn(y, c, mode)
            if (i < block.convs.length - 1) y = tf.relu(y)
          })
          const shortcut = block.downsample === undefined ? h : convBn(h, block.downsample, mode)
          h = tf.relu(tf.add(y, shortcut)) as tf.Tensor4D
        }
        return globalAvgPool(h)
      })
  }
}

export const resnet18: ResNetConfig = { block: "basic", layers: [2, 2, 2, 2] }
export const resnet34: ResNetConfig = { block: "basic", layers: [3, 4, 6, 3] }
export const resnet50: ResNetConfig = { block: "bottleneck", layers: [3, 4, 6, 3] }
