import type { Rng } from "@bingo/runtime"
import { graphNetwork } from "./compileGraph.ts"
import type { LayerOp, Network } from "./Network.ts"
import { ParamStore } from "./ParamStore.ts"

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
  /** conv (no bias) + batch norm, torchvision's `convN` / `bnN` pair. */
  const convBn = (conv: string, bn: string, k: number, cin: number, cout: number, stride: number): Array<LayerOp> => {
    store.conv(`${conv}.weight`, k, k, cin, cout)
    store.batchNorm(bn, cout)
    return [
      { op: "conv2d", weight: `${conv}.weight`, stride, padding: Math.floor(k / 2) },
      { op: "batchNorm", name: bn }
    ]
  }
  const graph: Array<LayerOp> =
    options.stem === "imagenet"
      ? [...convBn("conv1", "bn1", 7, options.channels, stemWidth, 2), { op: "relu" }, { op: "maxPool", size: 3, stride: 2, padding: 1 }]
      : [...convBn("conv1", "bn1", 3, options.channels, stemWidth, 1), { op: "relu" }]

  let cin = stemWidth
  config.layers.forEach((count, stage) => {
    const width = widths[stage]!
    for (let b = 0; b < count; b++) {
      const stride = b === 0 && stage > 0 ? 2 : 1
      const p = `layer${stage + 1}.${b}`
      const cout = width * expansion
      const body: Array<LayerOp> =
        config.block === "basic"
          ? [
              ...convBn(`${p}.conv1`, `${p}.bn1`, 3, cin, width, stride),
              { op: "relu" },
              ...convBn(`${p}.conv2`, `${p}.bn2`, 3, width, width, 1)
            ]
          : [
              ...convBn(`${p}.conv1`, `${p}.bn1`, 1, cin, width, 1),
              { op: "relu" },
              ...convBn(`${p}.conv2`, `${p}.bn2`, 3, width, width, stride),
              { op: "relu" },
              ...convBn(`${p}.conv3`, `${p}.bn3`, 1, width, cout, 1)
            ]
      const shortcut = stride !== 1 || cin !== cout ? convBn(`${p}.downsample.0`, `${p}.downsample.1`, 1, cin, cout, stride) : []
      graph.push({ op: "residual", body, shortcut }, { op: "relu" })
      cin = cout
    }
  })
  graph.push({ op: "globalAvgPool" })

  return graphNetwork(name, cin, store.params, graph)
}

export const resnet18: ResNetConfig = { block: "basic", layers: [2, 2, 2, 2] }
export const resnet34: ResNetConfig = { block: "basic", layers: [3, 4, 6, 3] }
export const resnet50: ResNetConfig = { block: "bottleneck", layers: [3, 4, 6, 3] }
