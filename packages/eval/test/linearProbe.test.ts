import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { failureOf, Rng } from "@bingo/runtime"
import { createEncoder, disposeEncoder } from "@bingo/backbones"
import { makeShapes } from "@bingo/data"
import { beforeAll, describe, expect, it } from "vitest"
import { evaluateEncoder } from "../src/evaluateEncoder.ts"
import { linearProbe, linearProbeDefaults, linearProbePredictions } from "../src/linearProbe.ts"
import { formatResultsTable } from "../src/report.ts"
import { useCpu } from "./setup.ts"

beforeAll(useCpu)

const blobs = (n: number, rng: Rng, shift: number) => {
  // 3 classes, means at +-shift on different axes, unit noise, 5 dims
  const dim = 5
  const features = new Float32Array(n * dim)
  const labels = new Int32Array(n)
  for (let i = 0; i < n; i++) {
    const c = i % 3
    labels[i] = c
    for (let d = 0; d < dim; d++) features[i * dim + d] = rng.normal() + (d === c ? shift : 0)
  }
  return { features, labels, dim }
}

describe("linearProbe", () => {
  it("records each epoch's mean training loss, falling on separable data; a huge lr stops it with a non-finite loss", () => {
    const rng = Rng.fromSeed(4)
    const tr = blobs(300, rng, 3),
      te = blobs(150, rng, 3)
    const options = { ...linearProbeDefaults, epochs: 5, numClasses: 3 }
    const ok = linearProbe(tr, te, tr.dim, options, Rng.fromSeed(0))
    expect(ok.epochLosses).toHaveLength(5)
    expect(ok.epochLosses[4]!).toBeLessThan(ok.epochLosses[0]!)
    // hand value of the first step's loss is ln 3 (zero weights); the first epoch's mean is below it
    expect(ok.epochLosses[0]!).toBeLessThan(Math.log(3))
    const before = tf.memory().numTensors
    const bad = linearProbe(tr, te, tr.dim, { ...options, lr: 1e38 }, Rng.fromSeed(0))
    expect(tf.memory().numTensors).toBe(before)
    expect(Number.isFinite(bad.epochLosses.at(-1)!)).toBe(false)
    expect(bad.epochLosses.length).toBeLessThan(5)
    expect(Number.isNaN(bad.top1)).toBe(true)
  })

  it("evaluateEncoder turns a diverged probe into a typed LinearProbeDiverged naming the probe and epoch", async () => {
    const data = makeShapes({ n: 64, seed: 2 })
    const test = makeShapes({ n: 32, seed: 3 })
    const encoder = createEncoder(
      { backbone: "mlp", inputShape: [16, 16, 1], widthMultiplier: 0.125, headHidden: 8, embeddingDim: 8 },
      Rng.fromSeed(0),
      "e"
    )
    const exit = await Effect.runPromiseExit(
      evaluateEncoder(encoder, data, test, {
        view: { outputSize: 16 },
        knn: { k: 5, temperature: 0.07 },
        linear: { ...linearProbeDefaults, epochs: 3, lr: 1e38 },
        seed: 0
      })
    )
    disposeEncoder(encoder)
    expect(failureOf(exit)).toMatchObject({ _tag: "LinearProbeDiverged", probe: "linear probe" })
  })

  it("separates well-separated Gaussian blobs and is at chance on pure noise", () => {
    const rng = Rng.fromSeed(1)
    const tr = blobs(300, rng, 6),
      te = blobs(150, rng, 6)
    const before = tf.memory().numTensors
    const s = linearProbe(tr, te, tr.dim, { ...linearProbeDefaults, epochs: 20, numClasses: 3 }, Rng.fromSeed(0))
    expect(tf.memory().numTensors).toBe(before)
    expect(s.top1).toBeGreaterThan(0.97)
    const ntr = blobs(300, rng, 0),
      nte = blobs(300, rng, 0)
    const noise = linearProbe(ntr, nte, ntr.dim, { ...linearProbeDefaults, epochs: 20, numClasses: 3 }, Rng.fromSeed(0))
    expect(noise.top1).toBeLessThan(0.45)
  })
})

describe("evaluateEncoder", () => {
  it("scores an encoder with both probes and rejects unlabelled data", async () => {
    const train = makeShapes({ n: 120, seed: 1 })
    const test = makeShapes({ n: 60, seed: 2 })
    const enc = createEncoder(
      { backbone: "mlp", inputShape: [16, 16, 1], widthMultiplier: 0.25, headHidden: 8, embeddingDim: 8 },
      Rng.fromSeed(0)
    )
    const opts = { view: { outputSize: 16 }, knn: { k: 20, temperature: 0.07 }, linear: { ...linearProbeDefaults, epochs: 5 }, seed: 0 }
    const scores = await Effect.runPromise(evaluateEncoder(enc, train, test, opts))
    for (const v of Object.values(scores)) {
      expect(v).toBeGreaterThanOrEqual(0)
      expect(v).toBeLessThanOrEqual(1)
    }
    expect(scores.linearTop5).toBeGreaterThanOrEqual(scores.linearTop1)
    const { labels: _drop, ...unlabelled } = train
    const exit = await Effect.runPromiseExit(evaluateEncoder(enc, unlabelled, test, opts))
    expect(failureOf(exit)).toMatchObject({ _tag: "MissingLabels", dataset: "shapes" })
    disposeEncoder(enc)
  })
})

describe("formatResultsTable", () => {
  it("prints percentages with one decimal and the chance line", () => {
    const t = formatResultsTable(
      [{ model: "student", backbone: "mlp", params: 1234, scores: { knnTop1: 0.5, knnTop5: 0.9, linearTop1: 0.625, linearTop5: 0.95 } }],
      0.1
    )
    expect(t).toContain("| student | mlp      | 1,234  | 50.0      | 62.5         | 95.0         |")
    expect(t).toContain("chance: 10.0%")
  })
})

describe("linearProbePredictions", () => {
  it("trains the same probe as linearProbe (same scores) and returns each test image's top-ranked class, whose accuracy is top-1", () => {
    const rng = Rng.fromSeed(7)
    const tr = blobs(300, rng, 1.5),
      te = blobs(150, rng, 1.5)
    const options = { ...linearProbeDefaults, epochs: 8, numClasses: 3 }
    const before = tf.memory().numTensors
    const probe = linearProbePredictions(tr, te, tr.dim, options, Rng.fromSeed(0))
    expect(tf.memory().numTensors).toBe(before)
    const { predictions, ...score } = probe
    expect(score).toEqual(linearProbe(tr, te, tr.dim, options, Rng.fromSeed(0)))
    expect(predictions).toHaveLength(150)
    const hits = predictions.filter((p, i) => p === te.labels[i]).length
    expect(hits / 150).toBe(probe.top1)
    // overlapping blobs: some mistakes, in every class
    expect(probe.top1).toBeGreaterThan(0.5)
    expect(probe.top1).toBeLessThan(1)
    expect(new Set(predictions)).toEqual(new Set([0, 1, 2]))
    // a diverged probe predicts nothing
    expect(linearProbePredictions(tr, te, tr.dim, { ...options, lr: 1e38 }, Rng.fromSeed(0)).predictions).toHaveLength(0)
  })
})
