import * as tf from "@tensorflow/tfjs"
import { failureOf, Rng } from "@bingo/runtime"
import { Effect } from "effect"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createEncoder, disposeEncoder, embed, features } from "../src/Encoder.ts"
import { importTorchvisionWeights, loadTorchvisionSafetensors } from "../src/importTorchvisionWeights.ts"
import { disposeNetwork } from "../src/Network.ts"
import { createBackbone } from "../src/registry.ts"
import { readWeights } from "../src/weights.ts"
import { useCpu } from "./setup.ts"

beforeAll(useCpu)

// Made by test/fixtures/make_torch_fixture.py with PyTorch 1.13 (Debian python3-torch); see its docstring.
const fixture = (name: string) => join(import.meta.dirname, "fixtures", name)

/** The fixture's input (NHWC) and PyTorch's eval-mode outputs. */
const reference = async (name: string) => {
  const io = await Effect.runPromise(readWeights(fixture(`${name}.io.safetensors`)))
  const get = (k: string) => io.tensors.get(k)!
  const input = get("input_nhwc")
  return {
    x: tf.tensor4d(input.data, input.shape as [number, number, number, number]),
    features: get("features"),
    embedding: io.tensors.get("embedding")
  }
}

const maxAbsDiff = (a: tf.Tensor, b: Float32Array): number => {
  const x = a.dataSync()
  expect(x.length).toBe(b.length)
  let m = 0
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - b[i]!))
  return m
}

const diffs: Record<string, number> = {}
afterAll(() => console.log(`max abs diff vs PyTorch: ${JSON.stringify(diffs)}`))

describe("importTorchvisionWeights: PyTorch reference outputs", () => {
  it("a MoCo-v2 encoder_q (ResNet-18, ImageNet stem, MLP head) gives PyTorch's features and embeddings", async () => {
    const enc = createEncoder(
      { backbone: "resnet18", inputShape: [32, 32, 3], widthMultiplier: 0.125, stem: "imagenet", headHidden: 32, embeddingDim: 16 },
      Rng.fromSeed(0)
    )
    const report = await Effect.runPromise(loadTorchvisionSafetensors(fixture("resnet18_moco.safetensors"), enc))
    expect(report.prefix).toBe("module.encoder_q.")
    expect(report.unused).toEqual(["module.queue", "module.queue_ptr"])
    expect(report.imported.length).toBe(enc.params.size)
    const ref = await reference("resnet18_moco")
    const f = features(enc, ref.x, "eval")
    const e = embed(enc, ref.x, "eval")
    diffs["resnet18 imagenet features"] = maxAbsDiff(f, ref.features.data)
    diffs["resnet18 imagenet embedding"] = maxAbsDiff(e, ref.embedding!.data)
    expect(diffs["resnet18 imagenet features"]).toBeLessThan(1e-4)
    expect(diffs["resnet18 imagenet embedding"]).toBeLessThan(1e-4)
    tf.dispose([f, e, ref.x])
    disposeEncoder(enc)
  })

  it("a bare torchvision state dict (CIFAR stem, float16 file) loads into a backbone; its classifier is reported unused", async () => {
    const net = createBackbone("resnet18", { inputShape: [16, 16, 3], widthMultiplier: 0.125, stem: "cifar", rng: Rng.fromSeed(0) })
    const report = await Effect.runPromise(loadTorchvisionSafetensors(fixture("resnet18_cifar.safetensors"), net))
    expect(report.prefix).toBe("")
    expect(report.unused).toEqual(["fc.bias", "fc.weight"])
    const ref = await reference("resnet18_cifar")
    const f = net.apply(ref.x, "eval")
    diffs["resnet18 cifar features"] = maxAbsDiff(f, ref.features.data)
    expect(diffs["resnet18 cifar features"]).toBeLessThan(1e-4)
    tf.dispose([f, ref.x])
    disposeNetwork(net)
  })

  it("torchvision's mobilenet_v2 (depthwise kernels [C, 1, 3, 3]) loads under a `backbone.` prefix", async () => {
    const net = createBackbone("mobilenetv2", { inputShape: [32, 32, 3], widthMultiplier: 0.25, stem: "imagenet", rng: Rng.fromSeed(0) })
    const report = await Effect.runPromise(loadTorchvisionSafetensors(fixture("mobilenetv2.safetensors"), net))
    expect(report.prefix).toBe("backbone.")
    expect(report.unused).toEqual(["backbone.classifier.1.bias", "backbone.classifier.1.weight"])
    const ref = await reference("mobilenetv2")
    const f = net.apply(ref.x, "eval")
    diffs["mobilenetv2 features"] = maxAbsDiff(f, ref.features.data)
    expect(diffs["mobilenetv2 features"]).toBeLessThan(1e-4)
    tf.dispose([f, ref.x])
    disposeNetwork(net)
  })
})

describe("importTorchvisionWeights: errors and prefixes", () => {
  it("a wrong width is a WeightShapeMismatch naming the tensor and both PyTorch shapes; nothing is assigned", async () => {
    const net = createBackbone("resnet18", { inputShape: [32, 32, 3], widthMultiplier: 0.25, stem: "imagenet", rng: Rng.fromSeed(0) })
    const before = net.params.get("bn1.running_mean")!.dataSync().slice()
    const exit = await Effect.runPromiseExit(loadTorchvisionSafetensors(fixture("resnet18_moco.safetensors"), net))
    expect(failureOf(exit)).toMatchObject({
      _tag: "WeightShapeMismatch",
      path: fixture("resnet18_moco.safetensors"),
      tensor: "module.encoder_q.conv1.weight",
      actual: [8, 3, 7, 7],
      expected: [16, 3, 7, 7]
    })
    expect(Array.from(net.params.get("bn1.running_mean")!.dataSync())).toEqual(Array.from(before))
    disposeNetwork(net)
  })

  it("a checkpoint without the MLP head is a MissingWeights error listing the head's tensors; head: 'skip' loads the backbone", async () => {
    const enc = createEncoder(
      { backbone: "resnet18", inputShape: [16, 16, 3], widthMultiplier: 0.125, stem: "cifar", headHidden: 32, embeddingDim: 16 },
      Rng.fromSeed(0)
    )
    const exit = await Effect.runPromiseExit(loadTorchvisionSafetensors(fixture("resnet18_cifar.safetensors"), enc))
    const error = failureOf(exit)
    expect(error).toMatchObject({
      _tag: "MissingWeights",
      path: fixture("resnet18_cifar.safetensors"),
      prefix: "",
      missing: ["fc.0.weight", "fc.0.bias", "fc.2.weight", "fc.2.bias"]
    })
    // the words a user reads: the count, the prefix and the names
    expect(error?.message).toMatch(/4 tensor\(s\) missing \(prefix ''\): 'fc\.0\.weight', 'fc\.0\.bias', 'fc\.2\.weight', 'fc\.2\.bias'/)
    const report = await Effect.runPromise(loadTorchvisionSafetensors(fixture("resnet18_cifar.safetensors"), enc, { head: "skip" }))
    expect(report.imported.every((n) => n.startsWith("backbone."))).toBe(true)
    disposeEncoder(enc)
  })

  it("picks encoder_q over encoder_k, and converts OIHW -> HWIO and [out, in] -> [in, out]", async () => {
    const net = createBackbone("mlp", { inputShape: [1, 1, 2], widthMultiplier: 3 / 256, rng: Rng.fromSeed(0) })
    // mlp widths: 3, 3. fc0.weight [2, 3] ours = [3, 2] in PyTorch.
    const t = (shape: Array<number>, data: Array<number>) => ({ shape, data: Float32Array.from(data) })
    const state = new Map<string, { shape: Array<number>; data: Float32Array }>()
    for (const [enc, offset] of [
      ["encoder_k", 100],
      ["encoder_q", 0]
    ] as const) {
      state.set(
        `module.${enc}.fc0.weight`,
        t(
          [3, 2],
          [1, 2, 3, 4, 5, 6].map((v) => v + offset)
        )
      )
      state.set(`module.${enc}.fc0.bias`, t([3], [0, 0, 0]))
      state.set(`module.${enc}.fc1.weight`, t([3, 3], [1, 0, 0, 0, 1, 0, 0, 0, 1]))
      state.set(`module.${enc}.fc1.bias`, t([3], [0, 0, 0]))
    }
    const report = await Effect.runPromise(importTorchvisionWeights(net, state, "memory"))
    expect(report.prefix).toBe("module.encoder_q.")
    // PyTorch W = [[1, 2], [3, 4], [5, 6]] (out x in); ours is its transpose
    expect(Array.from(net.params.get("fc0.weight")!.dataSync())).toEqual([1, 3, 5, 2, 4, 6])
    disposeNetwork(net)

    const conv = createBackbone("convnet-small", { inputShape: [4, 4, 2], widthMultiplier: 3 / 16, rng: Rng.fromSeed(0) })
    const torchConv = new Map<string, { shape: Array<number>; data: Float32Array }>()
    for (const [name, v] of conv.params) {
      const s = v.shape
      torchConv.set(
        name,
        v.rank === 4
          ? t(
              [s[3]!, s[2]!, s[0]!, s[1]!],
              Array.from({ length: v.size }, (_, i) => i)
            )
          : t([...s], new Array(v.size).fill(1))
      )
    }
    await Effect.runPromise(importTorchvisionWeights(conv, torchConv, "memory"))
    // conv0: PyTorch [O=3, I=2, 3, 3], value = flat index; ours [3, 3, 2, 3][ky][kx][i][o] = torch[o][i][ky][kx]
    const ours = conv.params.get("conv0.weight")!.arraySync() as Array<Array<Array<Array<number>>>>
    expect(ours[1]![2]![1]![2]).toBe(((2 * 2 + 1) * 3 + 1) * 3 + 2)
    disposeNetwork(conv)
  })
})
