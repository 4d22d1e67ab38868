import type { Rng } from "@bingo/runtime"
import { graphNetwork } from "./compileGraph.ts"
import type { LayerOp, Network } from "./Network.ts"
import { ParamStore } from "./ParamStore.ts"

export interface MobileNetV2Options {
  readonly channels: number
  /** Scales every width (rounded to a multiple of 8, as torchvision); the last conv keeps 1280 below 1. */
  readonly widthMultiplier?: number
  /** "imagenet": stride-2 first conv (torchvision); "cifar": stride 1 (small inputs). */
  readonly stem: "imagenet" | "cifar"
  readonly rng: Rng
  readonly name?: string
}

/** Inverted-residual stages of MobileNetV2 (Sandler et al. 2018, Table 2): expansion t, width c, repeats n, stride s. */
const STAGES: ReadonlyArray<readonly [t: number, c: number, n: number, s: number]> = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1]
]

/** torchvision's `_make_divisible`: round to the nearest multiple of `divisor`, never down by more than 10%. */
export const makeDivisible = (v: number, divisor = 8): number => {
  const rounded = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor)
  return rounded < 0.9 * v ? rounded + divisor : rounded
}

/**
 * MobileNetV2 (Sandler et al., CVPR 2018) with torchvision's parameter names
 * (`features.0.0.weight`, `features.N.conv.M...`, `features.18.1.running_var`): inverted
 * residual blocks (1x1 expand - ReLU6 - 3x3 depthwise - ReLU6 - 1x1 linear projection,
 * identity shortcut when stride 1 and widths match), BN eps 1e-5. Output: globally pooled
 * features of the last 1x1 conv (1280 wide at widthMultiplier <= 1), without the classifier.
 */
export const mobilenetV2 = (options: MobileNetV2Options): Network => {
  const name = options.name ?? "mobilenetv2"
  const store = new ParamStore(options.rng, name)
  const m = options.widthMultiplier ?? 1
  /** conv (no bias) + batch norm at `prefix.i` / `prefix.(i+1)`. */
  const convBn = (prefix: string, i: number, k: number, cin: number, cout: number, stride: number, depthwise = false): Array<LayerOp> => {
    const weight = `${prefix}.${i}.weight`
    const bn = `${prefix}.${i + 1}`
    if (depthwise) store.depthwise(weight, k, k, cin)
    else store.conv(weight, k, k, cin, cout)
    store.batchNorm(bn, cout)
    const padding = (k - 1) / 2
    return [
      { op: depthwise ? "depthwiseConv2d" : "conv2d", weight, stride, padding },
      { op: "batchNorm", name: bn }
    ]
  }

  let cin = makeDivisible(32 * m)
  const graph: Array<LayerOp> = [...convBn("features.0", 0, 3, options.channels, cin, options.stem === "imagenet" ? 2 : 1), { op: "relu6" }]
  let index = 1
  for (const [t, c, n, s] of STAGES) {
    const cout = makeDivisible(c * m)
    for (let r = 0; r < n; r++) {
      const stride = r === 0 ? s : 1
      const hidden = Math.round(cin * t)
      const p = `features.${index++}.conv`
      // t = 1: [dw (conv.0.0, conv.0.1), project conv.1, bn conv.2]; else [expand conv.0.*, dw conv.1.*, project conv.2, bn conv.3]
      const body: Array<LayerOp> =
        t === 1
          ? [...convBn(`${p}.0`, 0, 3, cin, cin, stride, true), { op: "relu6" }, ...convBn(p, 1, 1, cin, cout, 1)]
          : [
              ...convBn(`${p}.0`, 0, 1, cin, hidden, 1),
              { op: "relu6" },
              ...convBn(`${p}.1`, 0, 3, hidden, hidden, stride, true),
              { op: "relu6" },
              ...convBn(p, 2, 1, hidden, cout, 1)
            ]
      graph.push(...(stride === 1 && cin === cout ? [{ op: "residual", body, shortcut: [] } as const] : body))
      cin = cout
    }
  }
  const last = makeDivisible(1280 * Math.max(1, m))
  graph.push(...convBn(`features.${index}`, 0, 1, cin, last, 1), { op: "relu6" }, { op: "globalAvgPool" })

  return graphNetwork(name, last, store.params, graph)
}
