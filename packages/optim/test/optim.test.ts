import * as tf from "@tensorflow/tfjs"
import { Rng } from "@bingo/runtime"
import { beforeAll, describe, expect, it } from "vitest"
import { cosineLr, scaledLr } from "../src/cosineLr.ts"
import { EmbeddingQueue } from "../src/EmbeddingQueue.ts"
import { Sgd } from "../src/Sgd.ts"
import { useCpu } from "./setup.ts"

beforeAll(useCpu)

describe("Sgd", () => {
  it("follows PyTorch's momentum + weight decay rule, step by step", () => {
    const w = tf.variable(tf.tensor1d([1, -2]))
    const vars = new Map([["w", w]])
    const sgd = new Sgd({ momentum: 0.9, weightDecay: 0.1 })
    // step 1: g = [0.5, 0.5] + 0.1*[1,-2] = [0.6, 0.3]; buf = g; w = w - 0.5*buf = [0.7, -2.15]
    sgd.step(new Map([["w", tf.tensor1d([0.5, 0.5])]]), vars, 0.5)
    expect(Array.from(w.dataSync())).toEqual([0.7, -2.15].map(Math.fround))
    // step 2: g = [0,0] + 0.1*[0.7,-2.15] = [0.07,-0.215]; buf = 0.9*[0.6,0.3] + g = [0.61, 0.055]
    // w = [0.7 - 0.5*0.61, -2.15 - 0.5*0.055] = [0.395, -2.1775]
    sgd.step(new Map([["w", tf.tensor1d([0, 0])]]), vars, 0.5)
    const got = w.dataSync()
    expect(got[0]).toBeCloseTo(0.395, 6)
    expect(got[1]).toBeCloseTo(-2.1775, 6)
    expect(sgd.state().get("w")!.dataSync()[0]).toBeCloseTo(0.61, 6)
    sgd.dispose()
    w.dispose()
  })

  it("leaks no tensors per step and restores its buffers", () => {
    const w = tf.variable(tf.ones([3]))
    const vars = new Map([["w", w]])
    const sgd = new Sgd({ momentum: 0.9, weightDecay: 1e-4 })
    const g = tf.ones([3])
    sgd.step(new Map([["w", g]]), vars, 0.1)
    const before = tf.memory().numTensors
    for (let i = 0; i < 5; i++) sgd.step(new Map([["w", g]]), vars, 0.1)
    expect(tf.memory().numTensors).toBe(before)
    const saved = new Map([...sgd.state()].map(([k, v]) => [k, { shape: v.shape, data: v.dataSync() as Float32Array }]))
    const other = new Sgd({ momentum: 0.9, weightDecay: 1e-4 })
    const beforeRestore = tf.memory().numTensors
    other.restore(saved)
    expect(tf.memory().numTensors).toBe(beforeRestore + 1)
    expect(Array.from(other.state().get("w")!.dataSync())).toEqual(Array.from(saved.get("w")!.data))
    tf.dispose([g, w])
    sgd.dispose()
    other.dispose()
  })
})

describe("cosineLr", () => {
  it("decays from base to 0 with the half-way value base/2", () => {
    expect(cosineLr(0.03, 0, 200)).toBeCloseTo(0.03, 10)
    expect(cosineLr(0.03, 100, 200)).toBeCloseTo(0.015, 10)
    expect(cosineLr(0.03, 200, 200)).toBeCloseTo(0, 10)
    expect(cosineLr(1, 0, 10, 4)).toBeCloseTo(0.2, 10)
    expect(scaledLr(0.03, 128)).toBeCloseTo(0.015, 10)
  })
})

describe("EmbeddingQueue", () => {
  it("creating and disposing a queue leaks nothing", () => {
    const before = tf.memory().numTensors
    EmbeddingQueue.random(4, 2, Rng.fromSeed(0)).dispose()
    EmbeddingQueue.fromValues(new Float32Array(8), 4, 2, 1).dispose()
    expect(tf.memory().numTensors).toBe(before)
  })

  it("starts with unit rows and overwrites the oldest rows first, wrapping", () => {
    const q = EmbeddingQueue.random(5, 3, Rng.fromSeed(0))
    const rows = q.tensor.arraySync()
    for (const r of rows) expect(Math.hypot(...r)).toBeCloseTo(1, 5)
    const k1 = tf.tensor2d([
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1]
    ])
    q.enqueue(k1)
    expect(q.pointer).toBe(3)
    const k2 = tf.tensor2d([
      [-1, 0, 0],
      [0, -1, 0],
      [0, 0, -1]
    ])
    const before = tf.memory().numTensors
    q.enqueue(k2)
    expect(tf.memory().numTensors).toBe(before)
    expect(q.pointer).toBe(1)
    // rows 3,4 and (wrapped) 0 come from k2; rows 1,2 still from k1
    expect(q.tensor.arraySync()).toEqual([
      [0, 0, -1],
      [0, 1, 0],
      [0, 0, 1],
      [-1, 0, 0],
      [0, -1, 0]
    ])
    expect(() => q.enqueue(tf.zeros([2, 4]) as tf.Tensor2D)).toThrow(/dim 4/)
    tf.dispose([k1, k2])
    q.dispose()
  })
})
