import * as tf from "@tensorflow/tfjs"
import { Rng } from "@bingo/runtime"
import { beforeAll, describe, expect, it } from "vitest"
import { createBackbone, listBackbones } from "../src/registry.ts"
import { disposeNetwork, parameterCount } from "../src/Network.ts"
import { testWidth, useCpu } from "./setup.ts"

beforeAll(useCpu)

describe("backbone registry", () => {
  it("lists the expected families", () => {
    expect(listBackbones()).toEqual(
      expect.arrayContaining(["mlp", "convnet-small", "convnet", "resnet18", "resnet34", "resnet50", "mobilenetv2"])
    )
  })

  it("rejects an unknown name with the list of known ones", () => {
    expect(() => createBackbone("resnet1000", { inputShape: [8, 8, 1], rng: Rng.fromSeed(0) })).toThrow(
      /unknown backbone 'resnet1000'.*resnet18/
    )
    try {
      createBackbone("resnet1000", { inputShape: [8, 8, 1], rng: Rng.fromSeed(0) })
    } catch (e) {
      // a typed error whose own name is not shadowed by the field naming the backbone
      expect(e).toMatchObject({ _tag: "UnknownBackbone", backbone: "resnet1000" })
      expect(String(e)).toMatch(/^UnknownBackbone: unknown backbone 'resnet1000'/)
    }
  })

  for (const name of listBackbones()) {
    it(`${name}: forward shape, finite values, train/eval modes, no tensor leak`, () => {
      const widthMultiplier = testWidth(name)
      const net = createBackbone(name, { inputShape: [16, 16, 3], rng: Rng.fromSeed(1), widthMultiplier })
      expect(parameterCount(net)).toBeGreaterThan(0)
      const x = tf.randomUniform([2, 16, 16, 3], 0, 1, "float32", 3) as tf.Tensor4D
      const before = tf.memory().numTensors
      for (const mode of ["train", "eval", "batch-stats"] as const) {
        const y = net.apply(x, mode)
        expect(y.shape).toEqual([2, net.outputDim])
        expect(y.dataSync().every(Number.isFinite)).toBe(true)
        y.dispose()
      }
      expect(tf.memory().numTensors).toBe(before)
      x.dispose()
      disposeNetwork(net)
    })
  }

  it("the same seed builds the same weights", () => {
    const a = createBackbone("convnet-small", { inputShape: [8, 8, 1], rng: Rng.fromSeed(5) })
    const b = createBackbone("convnet-small", { inputShape: [8, 8, 1], rng: Rng.fromSeed(5) })
    for (const [k, v] of a.params) expect(Array.from(v.dataSync())).toEqual(Array.from(b.params.get(k)!.dataSync()))
    disposeNetwork(a)
    disposeNetwork(b)
  })

  it("resnet18 uses torchvision parameter names and widths", () => {
    const net = createBackbone("resnet18", { inputShape: [32, 32, 3], rng: Rng.fromSeed(0), stem: "imagenet" })
    expect(net.params.get("conv1.weight")!.shape).toEqual([7, 7, 3, 64])
    expect(net.params.get("layer2.0.downsample.0.weight")!.shape).toEqual([1, 1, 64, 128])
    expect(net.params.get("layer4.1.bn2.running_var")!.trainable).toBe(false)
    expect(net.outputDim).toBe(512)
    // 11,176,512 = torchvision resnet18 without its fc layer (11,689,512 - 513,000)
    expect(parameterCount(net)).toBe(11_176_512)
    disposeNetwork(net)
  })

  it("mobilenetv2 uses torchvision parameter names, layouts and parameter count", () => {
    const net = createBackbone("mobilenetv2", { inputShape: [224, 224, 3], rng: Rng.fromSeed(0) })
    expect(net.params.get("features.0.0.weight")!.shape).toEqual([3, 3, 3, 32])
    // t = 1 block: depthwise conv.0.0, projection conv.1, its BN conv.2
    expect(net.params.get("features.1.conv.0.0.weight")!.shape).toEqual([3, 3, 32, 1])
    expect(net.params.get("features.1.conv.1.weight")!.shape).toEqual([1, 1, 32, 16])
    expect(net.params.get("features.1.conv.2.running_var")!.trainable).toBe(false)
    // t = 6 block: expand conv.0.0, depthwise conv.1.0, projection conv.2, BN conv.3
    expect(net.params.get("features.2.conv.1.0.weight")!.shape).toEqual([3, 3, 96, 1])
    expect(net.params.get("features.17.conv.3.weight")!.shape).toEqual([320])
    expect(net.params.get("features.18.0.weight")!.shape).toEqual([1, 1, 320, 1280])
    expect(net.outputDim).toBe(1280)
    // 3,504,872 (torchvision mobilenet_v2) - 1,281,000 (classifier 1280x1000 + 1000) = 2,223,872
    expect(parameterCount(net)).toBe(2_223_872)
    disposeNetwork(net)
  })

  it("mobilenetv2 rounds scaled widths to multiples of 8 like torchvision and keeps 1280 features below width 1", () => {
    const net = createBackbone("mobilenetv2", { inputShape: [32, 32, 3], rng: Rng.fromSeed(0), widthMultiplier: 0.25 })
    expect(net.params.get("features.0.0.weight")!.shape).toEqual([3, 3, 3, 8])
    expect(net.params.get("features.3.conv.2.weight")!.shape).toEqual([1, 1, 48, 8])
    expect(net.outputDim).toBe(1280)
    disposeNetwork(net)
  })

  it("resnet50 has torchvision's parameter count", () => {
    const net = createBackbone("resnet50", { inputShape: [64, 64, 3], rng: Rng.fromSeed(0) })
    // 25,557,032 (torchvision resnet50) - 2,049,000 (fc 2048x1000 + 1000) = 23,508,032
    expect(parameterCount(net)).toBe(23_508_032)
    expect(net.outputDim).toBe(2048)
    disposeNetwork(net)
  })
})
