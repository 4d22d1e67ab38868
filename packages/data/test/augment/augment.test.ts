import { Rng } from "@bingo/runtime"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import {
  adjustBrightness,
  adjustContrast,
  adjustHue,
  adjustSaturation,
  augmentBatch,
  centerView,
  gaussianBlur,
  gaussianKernel,
  resizeBilinear,
  sampleCropBox,
  toGrayscale
} from "../../src/augment/augment.ts"
import { type AugmentConfig, defaultBlurKernelSize, resolveAugmentConfig, validateAugmentConfig } from "../../src/augment/AugmentConfig.ts"
import { type ImageDataset, makeImageDataset } from "../../src/ImageDataset.ts"
import { makeShapes } from "../../src/formats/makeShapes.ts"

/** Every augmentation switched off, crop = the whole image, no normalisation. */
const identity = (outputSize: number): AugmentConfig => ({
  outputSize,
  cropScale: [1, 1],
  cropRatio: [1, 1],
  flipProb: 0,
  jitterProb: 0,
  grayscaleProb: 0,
  blurProb: 0,
  mean: [0],
  std: [1]
})

/** A dataset of one image whose value at (y, x, c) is f(y, x, c). */
const single = (h: number, w: number, c: number, f: (y: number, x: number, c: number) => number): ImageDataset => {
  const images = new Float32Array(h * w * c)
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) images[(y * w + x) * c + k] = f(y, x, k)
  return makeImageDataset({ name: "hand-made", size: 1, height: h, width: w, channels: c, images })
}

const gray = makeShapes({ n: 16, seed: 5 })
const colour = makeShapes({ n: 16, channels: 3, seed: 5 })

describe("augmentBatch", () => {
  it("returns B*S*S*C values for 1- and 3-channel datasets", () => {
    const rng = Rng.fromSeed(0)
    expect(augmentBatch(gray, [0, 3, 5], { outputSize: 12 }, rng).length).toBe(3 * 12 * 12 * 1)
    expect(augmentBatch(colour, [1, 2], { outputSize: 20 }, rng).length).toBe(2 * 20 * 20 * 3)
  })

  it("keeps values in [0, 1] before normalisation and maps them to (x - mean) / std after", () => {
    const rng = Rng.fromSeed(1)
    for (const ds of [gray, colour]) {
      const raw = augmentBatch(ds, [...Array(16).keys()], { outputSize: 16, mean: [0], std: [1] }, rng)
      expect(Math.min(...raw)).toBeGreaterThanOrEqual(0)
      expect(Math.max(...raw)).toBeLessThanOrEqual(1)
      const normalised = augmentBatch(ds, [...Array(16).keys()], { outputSize: 16 }, rng)
      expect(Math.min(...normalised)).toBeGreaterThanOrEqual(-1)
      expect(Math.max(...normalised)).toBeLessThanOrEqual(1)
    }
    const ds = single(2, 2, 3, () => 0.5)
    const out = augmentBatch(ds, [0], { ...identity(2), mean: [0.1, 0.2, 0.3], std: [0.5, 0.25, 2] }, rng)
    expect(Array.from(out.subarray(0, 3))).toEqual([0.8, 1.2, 0.1].map(Math.fround))
  })

  it("is deterministic for an rng state and differs across seeds", () => {
    const idx = [0, 1, 2, 3]
    const a = augmentBatch(colour, idx, { outputSize: 16 }, Rng.fromSeed(9))
    const b = augmentBatch(colour, idx, { outputSize: 16 }, Rng.fromSeed(9))
    const c = augmentBatch(colour, idx, { outputSize: 16 }, Rng.fromSeed(10))
    expect(b).toEqual(a)
    expect(c).not.toEqual(a)
  })

  it("two views of the same image differ (the pipeline is random)", () => {
    const rng = Rng.fromSeed(2)
    const v1 = augmentBatch(gray, [0], { outputSize: 16 }, rng)
    const v2 = augmentBatch(gray, [0], { outputSize: 16 }, rng)
    expect(v2).not.toEqual(v1)
  })

  it("crop with scale 1 and ratio 1 is the identity resize", () => {
    const ds = colour
    const out = augmentBatch(ds, [3], identity(16), Rng.fromSeed(3))
    expect(out).toEqual(ds.images.subarray(3 * 768, 4 * 768))
    // To another size it is the plain bilinear resize of the whole image, as centerView does.
    const resized = augmentBatch(ds, [3, 4], identity(10), Rng.fromSeed(3))
    expect(resized).toEqual(centerView(ds, [3, 4], identity(10)))
  })

  it("flips left-right exactly (hand-made image)", () => {
    // 2 x 3 image, 2 channels: value = 10 y + x + 100 c
    const ds = single(2, 3, 2, (y, x, c) => (10 * y + x + 100 * c) / 1000)
    const out = augmentBatch(ds, [0], { ...identity(3), cropRatio: [1.5, 1.5], flipProb: 1 }, Rng.fromSeed(0))
    // The full-image crop of a 2x3 image has ratio 1.5; resized to 3x3 rows are interpolated, so
    // compare to the unflipped output mirrored.
    const plain = augmentBatch(ds, [0], { ...identity(3), cropRatio: [1.5, 1.5] }, Rng.fromSeed(0))
    for (let y = 0; y < 3; y++) {
      for (let x = 0; x < 3; x++) {
        for (let c = 0; c < 2; c++) expect(out[(y * 3 + x) * 2 + c]).toBe(plain[(y * 3 + 2 - x) * 2 + c])
      }
    }
    const square = single(
      2,
      2,
      1,
      (y, x) =>
        [
          [0.1, 0.2],
          [0.3, 0.4]
        ][y]![x]!
    )
    expect(Array.from(augmentBatch(square, [0], { ...identity(2), flipProb: 1 }, Rng.fromSeed(0)))).toEqual(
      [0.2, 0.1, 0.4, 0.3].map(Math.fround)
    )
  })

  it("blur preserves a constant image", () => {
    const ds = single(16, 16, 3, () => 0.37)
    const config = { ...identity(16), cropScale: [0.2, 1], cropRatio: [0.75, 4 / 3], blurProb: 1, blurSigma: [2, 2] } as const
    const out = augmentBatch(ds, [0], config, Rng.fromSeed(4))
    for (const v of out) expect(v).toBeCloseTo(0.37, 6)
  })

  it("grayscale makes the channels equal", () => {
    const out = augmentBatch(colour, [0, 1, 2], { ...identity(16), cropScale: [0.2, 1], grayscaleProb: 1 }, Rng.fromSeed(5))
    for (let p = 0; p < out.length; p += 3) {
      expect(out[p + 1]).toBe(out[p])
      expect(out[p + 2]).toBe(out[p])
    }
  })

  it("with every option at its default, about 80% of views are jittered and 20% grey", () => {
    // Count grey outputs of colour images: only RandomGrayscale (p 0.2) or saturation 0 makes them.
    const rng = Rng.fromSeed(6)
    const idx = Array.from({ length: 400 }, (_, i) => i % 16)
    const out = augmentBatch(colour, idx, { outputSize: 8, mean: [0], std: [1] }, rng)
    let greys = 0
    for (let b = 0; b < idx.length; b++) {
      let isGrey = true
      for (let p = b * 192; p < (b + 1) * 192 && isGrey; p += 3) isGrey = out[p] === out[p + 1] && out[p] === out[p + 2]
      if (isGrey) greys++
    }
    expect(greys / idx.length).toBeGreaterThan(0.14)
    expect(greys / idx.length).toBeLessThan(0.26)
  })

  it("on 1-channel images the jitter changes brightness/contrast only and keeps 1 channel", () => {
    const ds = single(4, 4, 1, (y, x) => (y * 4 + x) / 15)
    const out = augmentBatch(ds, [0], { ...identity(4), jitterProb: 1, hue: 0.5, saturation: 1 }, Rng.fromSeed(7))
    expect(out.length).toBe(16)
    expect(out).not.toEqual(ds.images)
    // Brightness and contrast are affine (then clamped) in the pixel value: order is preserved.
    for (let i = 1; i < 16; i++) expect(out[i]!).toBeGreaterThanOrEqual(out[i - 1]!)
  })
})

describe("centerView", () => {
  it("is the identity at the native size and deterministic", () => {
    expect(centerView(gray, [2, 7], identity(16))).toEqual(
      new Float32Array([...gray.images.subarray(2 * 256, 3 * 256), ...gray.images.subarray(7 * 256, 8 * 256)])
    )
    expect(centerView(colour, [1], { outputSize: 12 })).toEqual(centerView(colour, [1], { outputSize: 12 }))
  })

  it("center-crops the requested fraction of the shorter side, then normalises", () => {
    const ds = single(4, 4, 1, (y, x) => (y * 4 + x) / 16)
    const out = centerView(ds, [0], { outputSize: 2, centerCropFraction: 0.5 })
    // the central 2x2 block: values 5, 6, 9, 10 (/16), normalised with mean 0.5 std 0.5
    expect(Array.from(out)).toEqual([5, 6, 9, 10].map((v) => Math.fround((v / 16 - 0.5) / 0.5)))
  })
})

describe("augmentation kernels", () => {
  it("bilinear resize matches align_corners=False (2x2 -> 4x4 by hand)", () => {
    const src = new Float32Array([0, 1, 2, 3])
    const dst = new Float32Array(16)
    resizeBilinear(src, 2, 2, 1, { top: 0, left: 0, height: 2, width: 2 }, 4, 4, dst)
    expect(Array.from(dst)).toEqual([0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3])
  })

  it("random crop boxes stay in the image with area and ratio in range; impossible ranges fall back to a center crop", () => {
    const rng = Rng.fromSeed(8)
    for (let t = 0; t < 500; t++) {
      const b = sampleCropBox(32, 32, [0.2, 1], [3 / 4, 4 / 3], rng)
      expect(b.top).toBeGreaterThanOrEqual(0)
      expect(b.left).toBeGreaterThanOrEqual(0)
      expect(b.top + b.height).toBeLessThanOrEqual(32)
      expect(b.left + b.width).toBeLessThanOrEqual(32)
      // rounding to whole pixels moves area and ratio a little
      expect(b.height * b.width).toBeGreaterThanOrEqual(0.2 * 1024 - 2 * 32)
      expect(b.width / b.height).toBeGreaterThan(0.75 * 0.9)
      expect(b.width / b.height).toBeLessThan((4 / 3) * 1.1)
    }
    // a 4 x 100 image cannot hold a square crop of 90% of its area: fallback = centred 4 x 4
    expect(sampleCropBox(4, 100, [0.9, 1], [1, 1], rng)).toEqual({ top: 0, left: 48, height: 4, width: 4 })
  })

  it("brightness scales and clamps; contrast keeps the mean; saturation 0 gives grey", () => {
    const a = new Float32Array([0.2, 0.6])
    adjustBrightness(a, 2)
    expect(Array.from(a)).toEqual([0.4, 1].map(Math.fround))
    const b = new Float32Array([0.25, 0.75])
    adjustContrast(b, 1, 0.5)
    expect(Array.from(b)).toEqual([0.375, 0.625])
    const c = new Float32Array([1, 0, 0, 0, 1, 0])
    adjustSaturation(c, 0)
    expect(Array.from(c)).toEqual([0.299, 0.299, 0.299, 0.587, 0.587, 0.587].map(Math.fround))
  })

  it("hue rotation by a third of a turn maps red to green and leaves grey alone", () => {
    const px = new Float32Array([1, 0, 0, 0.5, 0.5, 0.5])
    adjustHue(px, 1 / 3)
    expect(px[0]).toBeCloseTo(0, 6)
    expect(px[1]).toBeCloseTo(1, 6)
    expect(px[2]).toBeCloseTo(0, 6)
    expect(Array.from(px.subarray(3))).toEqual([0.5, 0.5, 0.5])
    adjustHue(px, -1 / 3)
    expect(px[0]).toBeCloseTo(1, 6)
  })

  it("grayscale uses the ITU-R 601 luma weights", () => {
    const px = new Float32Array([1, 0, 0, 0, 1, 0, 0, 0, 1])
    toGrayscale(px)
    expect(Array.from(px)).toEqual([0.299, 0.299, 0.299, 0.587, 0.587, 0.587, 0.114, 0.114, 0.114].map(Math.fround))
  })

  it("the blur kernel is normalised, symmetric, ~10% of the side, and spreads a point", () => {
    const k = gaussianKernel(5, 1)
    expect(k.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 6)
    expect(k[0]).toBeCloseTo(k[4]!, 7)
    expect(k[1]! / k[2]!).toBeCloseTo(Math.exp(-0.5), 6)
    expect([16, 32, 64, 224].map(defaultBlurKernelSize)).toEqual([3, 3, 7, 23])
    const img = new Float32Array(49)
    img[24] = 1
    gaussianBlur(img, 7, 7, 1, 3, 1)
    expect(img.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 6)
    expect(img[24]).toBeCloseTo(gaussianKernel(3, 1)[1]! ** 2, 6)
  })

  it("an invalid config throws for library callers", () => {
    expect(() => resolveAugmentConfig({ outputSize: 16, flipProb: 1.5 })).toThrow(/flipProb/)
    expect(resolveAugmentConfig({ outputSize: 32 })).toMatchObject({ blurKernelSize: 3, jitterProb: 0.8, hue: 0.1 })
  })

  it.effect("an invalid user config is a typed InvalidAugmentConfig naming the field", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(validateAugmentConfig({ outputSize: 16, cropScale: [0.8, 0.2] }))
      expect(error._tag).toBe("InvalidAugmentConfig")
      expect(error.field).toBe("cropScale")
      const ok = yield* validateAugmentConfig({ outputSize: 16, mean: [0.2, 0.3, 0.4] })
      expect(ok.std).toEqual([0.5])
    })
  )
})
