import * as tf from "@tensorflow/tfjs"
import { Rng } from "@bingo/runtime"
import { beforeAll, describe, expect, it } from "vitest"
import { knnClassifier, rankClasses } from "../src/knnClassifier.ts"
import { useCpu } from "./setup.ts"

beforeAll(useCpu)

/** The same weighted vote with plain loops (cosine, sort, exp(sim/T)). */
const naiveKnn = (
  trX: Float32Array,
  trY: Int32Array,
  teX: Float32Array,
  teY: Int32Array,
  dim: number,
  k: number,
  T: number,
  classes: number
) => {
  const norm = (x: Float32Array, i: number) => Math.hypot(...x.subarray(i * dim, (i + 1) * dim))
  let hits = 0
  for (let t = 0; t < teY.length; t++) {
    const sims: Array<[number, number]> = []
    for (let i = 0; i < trY.length; i++) {
      let dot = 0
      for (let d = 0; d < dim; d++) dot += teX[t * dim + d]! * trX[i * dim + d]!
      sims.push([dot / (norm(teX, t) * norm(trX, i)), i])
    }
    sims.sort((a, b) => b[0] - a[0] || a[1] - b[1])
    const votes = new Array(classes).fill(0)
    for (const [s, i] of sims.slice(0, k)) votes[trY[i]!] += Math.exp(s / T)
    if (rankClasses(votes)[0] === teY[t]) hits++
  }
  return hits / teY.length
}

describe("knnClassifier", () => {
  it("weights votes by exp(sim / T): one close neighbour beats two far ones only at low temperature", () => {
    // test point (1, 0); train: class 0 at angle 0.1 rad, class 1 twice at angle 0.5 rad
    const train = {
      features: Float32Array.from([Math.cos(0.1), Math.sin(0.1), Math.cos(0.5), Math.sin(0.5), Math.cos(0.5), -Math.sin(0.5)]),
      labels: Int32Array.from([0, 1, 1])
    }
    const test = { features: Float32Array.from([1, 0]), labels: Int32Array.from([0]) }
    // votes: class 0 exp(cos .1 / T), class 1 2 exp(cos .5 / T); class 0 wins iff (cos .1 - cos .5) / T > ln 2
    const gap = Math.cos(0.1) - Math.cos(0.5) // 0.1173
    expect(gap / 0.07).toBeGreaterThan(Math.log(2))
    expect(gap / 1).toBeLessThan(Math.log(2))
    expect(knnClassifier(train, test, 2, { k: 3, temperature: 0.07, numClasses: 2 }).top1).toBe(1)
    expect(knnClassifier(train, test, 2, { k: 3, temperature: 1, numClasses: 2 }).top1).toBe(0)
  })

  it("agrees with a naive loop implementation on random data, across chunk sizes, without leaks", () => {
    const rng = Rng.fromSeed(4)
    const dim = 6,
      nTr = 80,
      nTe = 37,
      classes = 4
    const gen = (n: number) => ({
      features: Float32Array.from({ length: n * dim }, () => rng.normal()),
      labels: Int32Array.from({ length: n }, () => rng.int(classes))
    })
    const tr = gen(nTr),
      te = gen(nTe)
    const expected = naiveKnn(tr.features, tr.labels, te.features, te.labels, dim, 10, 0.1, classes)
    const before = tf.memory().numTensors
    for (const chunkSize of [5, 512]) {
      expect(knnClassifier(tr, te, dim, { k: 10, temperature: 0.1, numClasses: classes, chunkSize }).top1).toBeCloseTo(expected, 10)
    }
    expect(tf.memory().numTensors).toBe(before)
  })

  it("top-5 is 1 with at most 5 classes, and k is clipped to the training set size", () => {
    const tr = { features: Float32Array.from([1, 0, 0, 1]), labels: Int32Array.from([0, 1]) }
    const te = { features: Float32Array.from([1, 0.1]), labels: Int32Array.from([1]) }
    const s = knnClassifier(tr, te, 2, { k: 200, temperature: 0.07, numClasses: 2 })
    expect(s.top1).toBe(0)
    expect(s.top5).toBe(1)
  })
})
