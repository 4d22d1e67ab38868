// Does the linear probe read the features it is given? (Issue: a teacher's probe at exactly
// 86.2 top-1 / 98.8 top-5 in two runs whose teachers differ, with kNN 72.9 vs 80.2.)
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { Rng } from "@bingo/runtime"
import { createEncoder, disposeEncoder, extractFeatures } from "@bingo/backbones"
import { makeShapes } from "@bingo/data"
import { beforeAll, describe, expect, it } from "vitest"
import { evaluateEncoder } from "../src/evaluateEncoder.ts"
import { knnClassifier } from "../src/knnClassifier.ts"
import { linearProbe, linearProbeDefaults } from "../src/linearProbe.ts"
import { useCpu } from "./setup.ts"

beforeAll(useCpu)

type Split = { readonly features: Float32Array; readonly labels: Int32Array }

const options = (numClasses: number) => ({ ...linearProbeDefaults, epochs: 10, numClasses })

/** n labels cycling 0..numClasses-1. */
const cyclicLabels = (n: number, numClasses: number): Int32Array => Int32Array.from({ length: n }, (_, i) => i % numClasses)

/** Features of `labels`: dim values of N(0, 1) noise plus `shift` on the dimension of the label. */
const noisyClassFeatures = (labels: Int32Array, dim: number, shift: number, rng: Rng): Split => {
  const features = new Float32Array(labels.length * dim)
  for (let i = 0; i < labels.length; i++) {
    for (let d = 0; d < dim; d++) features[i * dim + d] = rng.normal() + (d === labels[i] ? shift : 0)
  }
  return { features, labels }
}

describe("linearProbe reads its features", () => {
  it("features that encode the label perfectly (one-hot) score 100% top-1", () => {
    const oneHot = (labels: Int32Array): Split => {
      const features = new Float32Array(labels.length * 10)
      labels.forEach((l, i) => (features[i * 10 + l] = 1))
      return { features, labels }
    }
    const s = linearProbe(oneHot(cyclicLabels(500, 10)), oneHot(cyclicLabels(200, 10)), 10, options(10), Rng.fromSeed(0))
    expect(s).toMatchObject({ top1: 1, top5: 1 })
  })

  it("random features score chance (10 classes: about 10% top-1, 50% top-5)", () => {
    const rng = Rng.fromSeed(4)
    const s = linearProbe(
      noisyClassFeatures(cyclicLabels(1000, 10), 32, 0, rng),
      noisyClassFeatures(cyclicLabels(1000, 10), 32, 0, rng),
      32,
      options(10),
      Rng.fromSeed(0)
    )
    // 1,000 test images: the standard error of a chance accuracy of 10% is 0.95 points
    expect(s.top1).toBeGreaterThan(0.06)
    expect(s.top1).toBeLessThan(0.14)
    expect(s.top5).toBeGreaterThan(0.44)
    expect(s.top5).toBeLessThan(0.56)
  })

  it("constant features give the majority class's rate (the probe can only learn the class prior)", () => {
    // classes 0, 1, 2 in proportions 50% / 30% / 20%, in both splits
    const labels = (n: number) => Int32Array.from({ length: n }, (_, i) => (i % 10 < 5 ? 0 : i % 10 < 8 ? 1 : 2))
    const constant = (n: number): Split => ({ features: new Float32Array(n * 4).fill(3.7), labels: labels(n) })
    const s = linearProbe(constant(400), constant(200), 4, options(3), Rng.fromSeed(0))
    expect(s).toMatchObject({ top1: 0.5, top5: 1 })
  })

  it("two different feature sets for the same labels give different scores; features mismatched to the labels score no better than chance", () => {
    const rng = Rng.fromSeed(5)
    const trainLabels = cyclicLabels(600, 10)
    const testLabels = cyclicLabels(500, 10)
    const strong = linearProbe(
      noisyClassFeatures(trainLabels, 16, 3, rng),
      noisyClassFeatures(testLabels, 16, 3, rng),
      16,
      options(10),
      Rng.fromSeed(0)
    )
    const weak = linearProbe(
      noisyClassFeatures(trainLabels, 16, 0.7, rng),
      noisyClassFeatures(testLabels, 16, 0.7, rng),
      16,
      options(10),
      Rng.fromSeed(0)
    )
    expect(strong.top1).toBeGreaterThan(0.85)
    expect(weak.top1).toBeLessThan(0.6)
    expect(strong.top1 - weak.top1).toBeGreaterThan(0.3)
    // each test label paired with the next image's features (features of the wrong images)
    const test = noisyClassFeatures(testLabels, 16, 3, rng)
    const shuffled = { features: test.features, labels: Int32Array.from(testLabels, (_, i) => testLabels[(i + 1) % 500]!) }
    const wrong = linearProbe(noisyClassFeatures(trainLabels, 16, 3, rng), shuffled, 16, options(10), Rng.fromSeed(0))
    expect(wrong.top1).toBeLessThan(0.15)
  })

  it("standardisation makes the probe blind to a per-dimension affine map of the features; cosine kNN is not", () => {
    // What can make two different encoders' probes coincide exactly while their kNN scores differ:
    // features that differ by x_d -> a_d x_d + b_d (a_d > 0) standardise to the same values.
    const rng = Rng.fromSeed(6)
    const dim = 8
    const train = noisyClassFeatures(cyclicLabels(400, 5), dim, 1.2, rng)
    const test = noisyClassFeatures(cyclicLabels(300, 5), dim, 1.2, rng)
    const affine = (s: Split): Split => ({
      features: s.features.map((v, i) => (0.05 + 3 * (i % dim)) * v + 10 * ((i % dim) - 4)),
      labels: s.labels
    })
    const a = linearProbe(train, test, dim, options(5), Rng.fromSeed(0))
    const b = linearProbe(affine(train), affine(test), dim, options(5), Rng.fromSeed(0))
    expect(Math.abs(a.top1 - b.top1)).toBeLessThanOrEqual(2 / 300) // equal up to float rounding of a borderline image or two
    const knn = { k: 20, temperature: 0.07, numClasses: 5 }
    const ka = knnClassifier(train, test, dim, knn)
    const kb = knnClassifier(affine(train), affine(test), dim, knn)
    expect(Math.abs(ka.top1 - kb.top1)).toBeGreaterThan(0.1)
  })
})

describe("evaluateEncoder probes the encoder it is given", () => {
  it("its linear score is the probe of that encoder's own features, and another encoder scores differently", async () => {
    const train = makeShapes({ n: 300, seed: 1 })
    const test = makeShapes({ n: 200, seed: 2 })
    const view = { outputSize: 16 }
    const opts = { view, knn: { k: 20, temperature: 0.07 }, linear: { ...linearProbeDefaults, epochs: 10 }, seed: 0 }
    const spec = { backbone: "mlp", inputShape: [16, 16, 1] as const, widthMultiplier: 0.25, headHidden: 8, embeddingDim: 8 }
    const a = createEncoder(spec, Rng.fromSeed(0), "probe-a")
    const b = createEncoder(spec, Rng.fromSeed(1), "probe-b")
    try {
      const before = tf.memory().numTensors
      const sa = await Effect.runPromise(evaluateEncoder(a, train, test, opts))
      const sb = await Effect.runPromise(evaluateEncoder(b, train, test, opts))
      expect(tf.memory().numTensors).toBe(before)
      const fa = await Effect.runPromise(extractFeatures(a, train, view))
      const ta = await Effect.runPromise(extractFeatures(a, test, view))
      const direct = linearProbe(
        { features: fa.values, labels: train.labels! },
        { features: ta.values, labels: test.labels! },
        fa.dim,
        { ...opts.linear, numClasses: 10 },
        Rng.fromSeed(0)
      )
      expect([sa.linearTop1, sa.linearTop5]).toEqual([direct.top1, direct.top5])
      // (on 200 test images two weak encoders can tie on one number: here both have top-1 17.0%, top-5 71.0 vs 66.0)
      expect([sb.linearTop1, sb.linearTop5]).not.toEqual([sa.linearTop1, sa.linearTop5])
    } finally {
      disposeEncoder(a)
      disposeEncoder(b)
    }
  }, 60_000)
})
