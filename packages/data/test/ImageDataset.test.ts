import { describe, expect, it } from "vitest"
import { channelStats } from "../src/augment/channelStats.ts"
import { imageAt, makeImageDataset, subset } from "../src/ImageDataset.ts"

const ds = makeImageDataset({
  name: "tiny",
  size: 3,
  height: 1,
  width: 2,
  channels: 2,
  images: Float32Array.from([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 0.5]),
  labels: Int32Array.from([2, 0, 1]),
  numClasses: 3
})

describe("ImageDataset", () => {
  it("imageAt is a view of image i", () => {
    expect(Array.from(imageAt(ds, 1))).toEqual([0.4, 0.5, 0.6, 0.7].map(Math.fround))
    expect(imageAt(ds, 2).buffer).toBe(ds.images.buffer)
    expect(() => imageAt(ds, 3)).toThrow(/out of range/)
  })

  it("subset copies images and labels in the given order", () => {
    const s = subset(ds, [2, 0, 2])
    expect(s.size).toBe(3)
    expect(Array.from(s.labels!)).toEqual([1, 2, 1])
    expect(Array.from(s.images.subarray(0, 4))).toEqual(Array.from(imageAt(ds, 2)))
    expect(Array.from(s.images.subarray(4, 8))).toEqual(Array.from(imageAt(ds, 0)))
    expect(s.numClasses).toBe(3)
    s.images[0] = 42
    expect(ds.images[8]).toBeCloseTo(0.8)
  })

  it("makeImageDataset rejects buffers that disagree with the shape", () => {
    expect(() => makeImageDataset({ name: "x", size: 2, height: 2, width: 2, channels: 1, images: new Float32Array(7) })).toThrow(
      /7 values/
    )
    expect(() =>
      makeImageDataset({
        name: "x",
        size: 1,
        height: 1,
        width: 1,
        channels: 1,
        images: new Float32Array(1),
        labels: new Int32Array(2)
      })
    ).toThrow(/2 labels for 1 images/)
  })

  it("channelStats gives per-channel mean and std", () => {
    const { mean, std } = channelStats(ds)
    // channel 0: 0, 0.2, 0.4, 0.6, 0.8, 1 -> mean 0.5; channel 1: 0.1, 0.3, 0.5, 0.7, 0.9, 0.5 -> mean 0.5
    expect(mean[0]).toBeCloseTo(0.5, 6)
    expect(mean[1]).toBeCloseTo(0.5, 6)
    expect(std[0]).toBeCloseTo(Math.sqrt(0.7 / 6), 6)
    expect(std[1]).toBeCloseTo(Math.sqrt(0.4 / 6), 6)
  })
})
