import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { Rng } from "@bingo/runtime"
import { createEncoder, disposeEncoder } from "@bingo/backbones"
import { makeShapes } from "@bingo/data"
import { beforeAll, describe, expect, it } from "vitest"
import { evaluateEncoder } from "../src/evaluateEncoder.ts"
import { linearProbe, linearProbeDefaults } from "../src/linearProbe.ts"
import { formatResultsTable } from "../src/report.ts"
import { semiSupervisedMetric, semiSupervisedProbe, semiSupervisedSubset, semiSupervisedSubsetSeed } from "../src/semiSupervised.ts"
import { useCpu } from "./setup.ts"

beforeAll(useCpu)

/** `perClass[c]` samples of class c, classes interleaved (0, 1, 2, 0, 1, 2, ...) while they last. */
const interleaved = (perClass: ReadonlyArray<number>): Int32Array => {
  const left = [...perClass]
  const out: Array<number> = []
  while (left.some((n) => n > 0)) {
    left.forEach((n, c) => {
      if (n > 0) {
        out.push(c)
        left[c]!--
      }
    })
  }
  return Int32Array.from(out)
}

const countByClass = (labels: Int32Array, subset: Int32Array): Array<number> => {
  const counts: Array<number> = []
  for (const i of subset) counts[labels[i]!] = (counts[labels[i]!] ?? 0) + 1
  return counts
}

describe("semiSupervisedSubset", () => {
  const labels = interleaved(new Array(10).fill(40)) // 10 classes x 40 images

  it("takes the same count from every class of a balanced set: floor(fraction x class size)", () => {
    expect(countByClass(labels, semiSupervisedSubset(labels, 0.1))).toEqual(new Array(10).fill(4))
    expect(countByClass(labels, semiSupervisedSubset(labels, 0.25))).toEqual(new Array(10).fill(10))
    expect(semiSupervisedSubset(labels, 1)).toEqual(Int32Array.from(labels.keys()))
  })

  it("is a set of training indices, ascending, without repeats", () => {
    const subset = Array.from(semiSupervisedSubset(labels, 0.3))
    expect(subset).toEqual([...new Set(subset)].sort((a, b) => a - b))
    expect(subset.every((i) => Number.isInteger(i) && i >= 0 && i < labels.length)).toBe(true)
  })

  it("is fixed by its seed (default semiSupervisedSubsetSeed = 0) and changes with it", () => {
    expect(semiSupervisedSubsetSeed).toBe(0)
    expect(semiSupervisedSubset(labels, 0.1)).toEqual(semiSupervisedSubset(labels, 0.1, 0))
    expect(semiSupervisedSubset(labels, 0.1, 7)).toEqual(semiSupervisedSubset(labels, 0.1, 7))
    expect(semiSupervisedSubset(labels, 0.1, 7)).not.toEqual(semiSupervisedSubset(labels, 0.1, 0))
  })

  it("nests: the 10% subset lies inside the 25% one", () => {
    const large = new Set(semiSupervisedSubset(labels, 0.25))
    expect(Array.from(semiSupervisedSubset(labels, 0.1)).every((i) => large.has(i))).toBe(true)
  })

  it("keeps one image of a class too small for the fraction (floor of at least 1), never more than a class has", () => {
    // 1% of classes of 200, 50 and 3 images: 2, then floor(0.5) and floor(0.03) raised to 1
    const uneven = interleaved([200, 50, 3])
    expect(countByClass(uneven, semiSupervisedSubset(uneven, 0.01))).toEqual([2, 1, 1])
    expect(countByClass(uneven, semiSupervisedSubset(uneven, 1))).toEqual([200, 50, 3])
  })

  it("accepts any integer labels and refuses a fraction outside (0, 1]", () => {
    const [a, b] = semiSupervisedSubset(Int32Array.from([7, 7, -1, -1]), 0.5)
    expect(
      [
        [0, 1],
        [2, 3]
      ].map((members) => [a, b].filter((i) => members.includes(i!)).length)
    ).toEqual([1, 1])
    for (const bad of [0, -0.1, 1.5, NaN]) expect(() => semiSupervisedSubset(labels, bad)).toThrow(RangeError)
  })
})

describe("semiSupervisedMetric", () => {
  it("names the score by the percentage of labels", () => {
    expect(semiSupervisedMetric(0.01, "Top1")).toBe("labels1pctTop1")
    expect(semiSupervisedMetric(0.1, "Top5")).toBe("labels10pctTop5")
    expect(semiSupervisedMetric(0.005, "Top1")).toBe("labels0.5pctTop1")
    expect(semiSupervisedMetric(0.07, "Top1")).toBe("labels7pctTop1") // 7.000000000000001 rounded
  })
})

describe("semiSupervisedProbe", () => {
  it("is the linear probe trained on the subset's rows only, scored on the whole test split", () => {
    const rng = Rng.fromSeed(3)
    const dim = 4
    const make = (n: number) => {
      const labels = Int32Array.from({ length: n }, (_, i) => i % 3)
      const features = Float32Array.from({ length: n * dim }, (_, j) => rng.normal() + (j % dim === labels[Math.floor(j / dim)]! ? 3 : 0))
      return { features, labels }
    }
    const train = make(90)
    const test = make(30)
    const options = { ...linearProbeDefaults, epochs: 5, numClasses: 3 }
    const subset = semiSupervisedSubset(train.labels, 0.2)
    const byHand = linearProbe(
      {
        features: Float32Array.from(Array.from(subset).flatMap((i) => Array.from(train.features.subarray(i * dim, (i + 1) * dim)))),
        labels: Int32Array.from(subset, (i) => train.labels[i]!)
      },
      test,
      dim,
      options,
      Rng.fromSeed(1)
    )
    const before = tf.memory().numTensors
    expect(semiSupervisedProbe(train, test, dim, 0.2, options, Rng.fromSeed(1))).toEqual(byHand)
    expect(tf.memory().numTensors).toBe(before)
  })
})

describe("evaluateEncoder with semiSupervised", () => {
  it("adds a top-1 and top-5 score per fraction and leaves the other scores as they were", async () => {
    const train = makeShapes({ n: 200, seed: 1 })
    const test = makeShapes({ n: 60, seed: 2 })
    const enc = createEncoder(
      { backbone: "mlp", inputShape: [16, 16, 1], widthMultiplier: 0.25, headHidden: 8, embeddingDim: 8 },
      Rng.fromSeed(0)
    )
    const opts = { view: { outputSize: 16 }, knn: { k: 20, temperature: 0.07 }, linear: { ...linearProbeDefaults, epochs: 5 }, seed: 0 }
    const plain = await Effect.runPromise(evaluateEncoder(enc, train, test, opts))
    const semi = await Effect.runPromise(evaluateEncoder(enc, train, test, { ...opts, semiSupervised: [0.1, 0.5] }))
    disposeEncoder(enc)
    expect(Object.keys(semi)).toEqual([...Object.keys(plain), "labels10pctTop1", "labels10pctTop5", "labels50pctTop1", "labels50pctTop5"])
    expect({ knnTop1: semi.knnTop1, knnTop5: semi.knnTop5, linearTop1: semi.linearTop1, linearTop5: semi.linearTop5 }).toEqual(plain)
    for (const k of ["labels10pctTop1", "labels10pctTop5", "labels50pctTop1", "labels50pctTop5"] as const) {
      expect(semi[k]).toBeGreaterThanOrEqual(0)
      expect(semi[k]).toBeLessThanOrEqual(1)
    }
    expect(semi.labels50pctTop5).toBeGreaterThanOrEqual(semi.labels50pctTop1!)
  })
})

describe("formatResultsTable with semi-supervised scores", () => {
  it("adds a top-1 column per fraction, '-' in rows without it", () => {
    const base = { knnTop1: 0.5, knnTop5: 0.9, linearTop1: 0.625, linearTop5: 0.95 }
    const t = formatResultsTable(
      [
        { model: "student", backbone: "mlp", params: 10, scores: { ...base, labels1pctTop1: 0.25, labels1pctTop5: 0.5 } },
        { model: "teacher", backbone: "mlp", params: 10, scores: base }
      ],
      0.1
    )
    expect(t.split("\n")[0]).toBe("| model   | backbone | params | kNN top-1 | linear top-1 | linear top-5 | labels 1% top-1 |")
    expect(t).toContain("| 62.5         | 95.0         | 25.0            |")
    expect(t).toContain("| 62.5         | 95.0         | -               |")
  })
})
