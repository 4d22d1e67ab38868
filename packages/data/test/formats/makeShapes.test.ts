import { describe, expect, it } from "vitest"
import type { ImageDataset } from "../../src/ImageDataset.ts"
import { makeShapes, shapeClassNames } from "../../src/formats/makeShapes.ts"

/** Accuracy of a nearest-class-mean classifier on raw pixels (squared Euclidean). */
const nearestMeanAccuracy = (train: ImageDataset, test: ImageDataset): number => {
  const D = train.height * train.width * train.channels
  const K = train.numClasses!
  const means = new Float64Array(K * D)
  const counts = new Float64Array(K)
  for (let i = 0; i < train.size; i++) {
    const l = train.labels![i]!
    counts[l]!++
    for (let d = 0; d < D; d++) means[l * D + d]! += train.images[i * D + d]!
  }
  for (let l = 0; l < K; l++) for (let d = 0; d < D; d++) means[l * D + d]! /= counts[l]!
  let correct = 0
  for (let i = 0; i < test.size; i++) {
    let best = -1
    let bestDist = Infinity
    for (let l = 0; l < K; l++) {
      let s = 0
      for (let d = 0; d < D; d++) s += (test.images[i * D + d]! - means[l * D + d]!) ** 2
      if (s < bestDist) [bestDist, best] = [s, l]
    }
    if (best === test.labels![i]) correct++
  }
  return correct / test.size
}

/** Accuracy of 1-nearest-neighbour on raw pixels. */
const nearestNeighbourAccuracy = (train: ImageDataset, test: ImageDataset): number => {
  const D = train.height * train.width * train.channels
  let correct = 0
  for (let i = 0; i < test.size; i++) {
    let best = -1
    let bestDist = Infinity
    for (let j = 0; j < train.size; j++) {
      let s = 0
      for (let d = 0; d < D; d++) s += (test.images[i * D + d]! - train.images[j * D + d]!) ** 2
      if (s < bestDist) [bestDist, best] = [s, train.labels![j]!]
    }
    if (best === test.labels![i]) correct++
  }
  return correct / test.size
}

describe("makeShapes", () => {
  it("has the requested size, shape, labels and value range", () => {
    const ds = makeShapes({ n: 103, size: 12, seed: 1 })
    expect(ds.name).toBe("shapes")
    expect([ds.size, ds.height, ds.width, ds.channels]).toEqual([103, 12, 12, 1])
    expect(ds.images.length).toBe(103 * 12 * 12)
    expect(ds.labels!.length).toBe(103)
    expect(ds.numClasses).toBe(10)
    expect(ds.classNames).toEqual(shapeClassNames)
    expect(Math.min(...ds.images)).toBeGreaterThanOrEqual(0)
    expect(Math.max(...ds.images)).toBeLessThanOrEqual(1)
    expect(ds.labels!.every((l) => l >= 0 && l < 10)).toBe(true)
  })

  it("has balanced classes in shuffled order", () => {
    const ds = makeShapes({ n: 1000, seed: 2 })
    const counts = new Array(10).fill(0)
    for (const l of ds.labels!) counts[l]++
    expect(counts).toEqual(new Array(10).fill(100))
    const uneven = makeShapes({ n: 23, seed: 2 })
    const c2 = new Array(10).fill(0)
    for (const l of uneven.labels!) c2[l]++
    expect(Math.max(...c2) - Math.min(...c2)).toBeLessThanOrEqual(1)
    // Not sorted by class: the first 10 labels are not 0..9.
    expect(Array.from(ds.labels!.subarray(0, 10))).not.toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  })

  it("is deterministic for a seed and differs across seeds", () => {
    const a = makeShapes({ n: 50, seed: 7 })
    const b = makeShapes({ n: 50, seed: 7 })
    const c = makeShapes({ n: 50, seed: 8 })
    expect(b.images).toEqual(a.images)
    expect(b.labels).toEqual(a.labels)
    expect(c.images).not.toEqual(a.images)
  })

  it("draws coloured shapes on coloured backgrounds with 3 channels", () => {
    const ds = makeShapes({ n: 40, channels: 3, seed: 3 })
    expect(ds.channels).toBe(3)
    expect(ds.images.length).toBe(40 * 16 * 16 * 3)
    // Channels differ (colour), unlike a grey image replicated 3 times.
    let diff = 0
    for (let p = 0; p < ds.images.length; p += 3) diff += Math.abs(ds.images[p]! - ds.images[p + 1]!)
    expect(diff / (ds.images.length / 3)).toBeGreaterThan(0.05)
  })

  it("every image shows its shape: the brightest pixels are well above the background", () => {
    const ds = makeShapes({ n: 200, seed: 4 })
    const D = 256
    for (let i = 0; i < ds.size; i++) {
      const px = Array.from(ds.images.subarray(i * D, (i + 1) * D)).sort((a, b) => a - b)
      // 95th percentile minus median: the shape (contrast >= 0.3) stands out of the background.
      expect(px[Math.floor(0.95 * D)]! - px[Math.floor(0.5 * D)]!).toBeGreaterThan(0.1)
    }
  })

  it("raw pixels are not enough: nearest-class-mean is far from perfect, yet above chance", () => {
    const train = makeShapes({ n: 2000, seed: 10 })
    const test = makeShapes({ n: 1000, seed: 11 })
    const ncm = nearestMeanAccuracy(train, test)
    const nn = nearestNeighbourAccuracy(makeShapes({ n: 1000, seed: 10 }), makeShapes({ n: 300, seed: 11 }))
    console.log(`shapes 16x16x1, raw pixels: nearest-class-mean ${(100 * ncm).toFixed(1)}%, 1-NN ${(100 * nn).toFixed(1)}%`)
    expect(ncm).toBeGreaterThan(0.11)
    expect(ncm).toBeLessThan(0.4)
    expect(nn).toBeLessThan(0.8)
  })
})
