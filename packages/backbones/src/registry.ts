import type { Rng } from "@bingo/runtime"
import { UnknownBackbone } from "./BackboneError.ts"
import { convnet } from "./convnet.ts"
import { mlp } from "./mlp.ts"
import { mobilenetV2 } from "./mobilenetV2.ts"
import type { Network } from "./Network.ts"
import { resnet, resnet18, resnet34, resnet50, type ResNetStem } from "./resnet.ts"

export interface BackboneOptions {
  /** Input image shape [height, width, channels]. */
  readonly inputShape: readonly [number, number, number]
  readonly rng: Rng
  /** Width multiplier (ResNets) or scale of the default widths (small nets). Default 1. */
  readonly widthMultiplier?: number
  /** ResNet / MobileNetV2 stem; default "cifar" below 64 px, "imagenet" from 64 px. */
  readonly stem?: ResNetStem
  readonly name?: string
}

export interface BackboneEntry {
  readonly description: string
  readonly build: (options: BackboneOptions) => Network
}

const scaled = (widths: ReadonlyArray<number>, m = 1) => widths.map((w) => Math.max(1, Math.round(w * m)))

const resnetEntry = (description: string, config: Parameters<typeof resnet>[0]): BackboneEntry => ({
  description,
  build: (o) =>
    resnet(config, {
      channels: o.inputShape[2],
      stem: o.stem ?? (o.inputShape[0] < 64 ? "cifar" : "imagenet"),
      widthMultiplier: o.widthMultiplier ?? 1,
      rng: o.rng,
      name: o.name ?? "resnet"
    })
})

/** Every backbone bingo can build, by name. Add an entry to add a backbone (and its test). */
export const backboneRegistry: Readonly<Record<string, BackboneEntry>> = {
  mlp: {
    description: "2-layer MLP on flattened pixels (256-256); the fastest student",
    build: (o) =>
      mlp({
        inputDim: o.inputShape[0] * o.inputShape[1] * o.inputShape[2],
        widths: scaled([256, 256], o.widthMultiplier),
        finalActivation: true,
        rng: o.rng,
        name: o.name ?? "mlp"
      })
  },
  "convnet-small": {
    description: "3-stage CNN (16-32-64), conv-BN-ReLU, for tests and tiny students",
    build: (o) =>
      convnet({ channels: o.inputShape[2], widths: scaled([16, 32, 64], o.widthMultiplier), rng: o.rng, name: o.name ?? "convnet-small" })
  },
  convnet: {
    description: "4-stage CNN (32-64-128-256), conv-BN-ReLU; the quickstart teacher",
    build: (o) =>
      convnet({ channels: o.inputShape[2], widths: scaled([32, 64, 128, 256], o.widthMultiplier), rng: o.rng, name: o.name ?? "convnet" })
  },
  resnet18: resnetEntry("ResNet-18 (torchvision layout)", resnet18),
  resnet34: resnetEntry("ResNet-34 (torchvision layout)", resnet34),
  resnet50: resnetEntry("ResNet-50 (torchvision layout, bottleneck blocks)", resnet50),
  mobilenetv2: {
    description: "MobileNetV2 (torchvision layout): inverted residuals, depthwise convs, ReLU6",
    build: (o) =>
      mobilenetV2({
        channels: o.inputShape[2],
        stem: o.stem ?? (o.inputShape[0] < 64 ? "cifar" : "imagenet"),
        widthMultiplier: o.widthMultiplier ?? 1,
        rng: o.rng,
        name: o.name ?? "mobilenetv2"
      })
  }
}

/** Names of all registered backbones. */
export const listBackbones = (): Array<string> => Object.keys(backboneRegistry)

/** Build a backbone by name. Throws UnknownBackbone for a name not in the registry. */
export const createBackbone = (name: string, options: BackboneOptions): Network => {
  const entry = backboneRegistry[name]
  if (entry === undefined) throw new UnknownBackbone({ backbone: name, available: listBackbones() })
  return entry.build(options)
}
