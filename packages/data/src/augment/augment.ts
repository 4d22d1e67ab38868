/**
 * The MoCo-v2 "aug+" pipeline (Chen et al. 2020, "Improved Baselines with Momentum Contrastive
 * Learning"), as used by BINGO for its four views q, k, pq, pk:
 *
 *   RandomResizedCrop(S, scale 0.2-1, ratio 3/4-4/3, bilinear)
 *   RandomApply(ColorJitter(0.4, 0.4, 0.4, 0.1), p 0.8)
 *   RandomGrayscale(p 0.2)
 *   RandomApply(GaussianBlur(sigma 0.1-2), p 0.5)
 *   RandomHorizontalFlip(p 0.5)
 *   Normalize(mean, std)
 *
 * The settings and their checks are `AugmentConfig.ts`: only `outputSize` is required; every
 * other field defaults to the reference value. The blur kernel is scaled for small images: about
 * 10% of the output side, odd, at least 3 (ImageNet's 23 px at 224). On 1-channel images
 * ColorJitter applies only brightness and contrast, and grayscale is the identity (as in
 * torchvision).
 */
import type { Rng } from "@bingo/runtime"
import { type AugmentConfig, type ResolvedAugmentConfig, resolveAugmentConfig } from "./AugmentConfig.ts"
import { type ImageDataset, imageAt } from "../ImageDataset.ts"

/** A crop rectangle in source pixels (may be fractional for `centerView`). */
export interface CropBox {
  readonly top: number
  readonly left: number
  readonly height: number
  readonly width: number
}

/**
 * torchvision's RandomResizedCrop.get_params: up to 10 tries of an area fraction from `scale`
 * and a log-uniform aspect ratio from `ratio`, rounded to whole pixels and placed uniformly;
 * then a fallback center crop with the ratio clamped to the range.
 */
export const sampleCropBox = (
  height: number,
  width: number,
  scale: readonly [number, number],
  ratio: readonly [number, number],
  rng: Rng
): CropBox => {
  const area = height * width
  const logLo = Math.log(ratio[0])
  const logHi = Math.log(ratio[1])
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * rng.uniform(scale[0], scale[1])
    const aspect = Math.exp(rng.uniform(logLo, logHi))
    const w = Math.round(Math.sqrt(targetArea * aspect))
    const h = Math.round(Math.sqrt(targetArea / aspect))
    if (w > 0 && w <= width && h > 0 && h <= height) {
      return { top: rng.int(height - h + 1), left: rng.int(width - w + 1), height: h, width: w }
    }
  }
  const inRatio = width / height
  let w = width
  let h = height
  if (inRatio < ratio[0]) h = Math.round(w / ratio[0])
  else if (inRatio > ratio[1]) w = Math.round(h * ratio[1])
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w }
}

/**
 * Bilinear resize of the `box` region of an HWC image to outH x outW (half-pixel centres,
 * align_corners=False, sampling clamped to the box and the image, as torchvision's crop + resize).
 */
export const resizeBilinear = (
  src: Float32Array,
  height: number,
  width: number,
  channels: number,
  box: CropBox,
  outH: number,
  outW: number,
  dst: Float32Array
): void => {
  const yLo = Math.max(0, box.top)
  const yHi = Math.min(height - 1, box.top + box.height - 1)
  const xLo = Math.max(0, box.left)
  const xHi = Math.min(width - 1, box.left + box.width - 1)
  const sy = box.height / outH
  const sx = box.width / outW
  for (let oy = 0; oy < outH; oy++) {
    let y = box.top + (oy + 0.5) * sy - 0.5
    y = y < yLo ? yLo : Math.min(y, yHi)
    const y0 = Math.floor(y)
    const y1 = Math.min(y0 + 1, height - 1)
    const wy = y - y0
    for (let ox = 0; ox < outW; ox++) {
      let x = box.left + (ox + 0.5) * sx - 0.5
      x = x < xLo ? xLo : Math.min(x, xHi)
      const x0 = Math.floor(x)
      const x1 = Math.min(x0 + 1, width - 1)
      const wx = x - x0
      const o = (oy * outW + ox) * channels
      const a = (y0 * width + x0) * channels
      const b = (y0 * width + x1) * channels
      const c = (y1 * width + x0) * channels
      const d = (y1 * width + x1) * channels
      for (let ch = 0; ch < channels; ch++) {
        const top = src[a + ch]! + (src[b + ch]! - src[a + ch]!) * wx
        const bottom = src[c + ch]! + (src[d + ch]! - src[c + ch]!) * wx
        dst[o + ch] = top + (bottom - top) * wy
      }
    }
  }
}

/** Mirror an HWC image left-right in place. */
export const flipHorizontal = (img: Float32Array, height: number, width: number, channels: number): void => {
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width >> 1; x++) {
      const a = (y * width + x) * channels
      const b = (y * width + width - 1 - x) * channels
      for (let c = 0; c < channels; c++) {
        const t = img[a + c]!
        img[a + c] = img[b + c]!
        img[b + c] = t
      }
    }
  }
}

const clamp01 = (x: number): number => (x < 0 ? 0 : Math.min(x, 1))
const luma = (r: number, g: number, b: number): number => 0.299 * r + 0.587 * g + 0.114 * b

/** Multiply by `factor`, clamp to [0, 1]. */
export const adjustBrightness = (img: Float32Array, factor: number): void => {
  for (let i = 0; i < img.length; i++) img[i] = clamp01(img[i]! * factor)
}

/** Blend with the mean grey level of the whole image: factor * x + (1 - factor) * mean. */
export const adjustContrast = (img: Float32Array, channels: number, factor: number): void => {
  const pixels = img.length / channels
  let mean = 0
  if (channels === 3) for (let p = 0; p < pixels; p++) mean += luma(img[3 * p]!, img[3 * p + 1]!, img[3 * p + 2]!)
  else for (let i = 0; i < img.length; i++) mean += img[i]!
  mean /= channels === 3 ? pixels : img.length
  const offset = (1 - factor) * mean
  for (let i = 0; i < img.length; i++) img[i] = clamp01(factor * img[i]! + offset)
}

/** RGB only: blend each pixel with its grey level. */
export const adjustSaturation = (img: Float32Array, factor: number): void => {
  for (let i = 0; i < img.length; i += 3) {
    const g = (1 - factor) * luma(img[i]!, img[i + 1]!, img[i + 2]!)
    img[i] = clamp01(factor * img[i]! + g)
    img[i + 1] = clamp01(factor * img[i + 1]! + g)
    img[i + 2] = clamp01(factor * img[i + 2]! + g)
  }
}

/** RGB only: rotate the hue by `shift` turns (in [-0.5, 0.5]) through HSV. */
export const adjustHue = (img: Float32Array, shift: number): void => {
  for (let i = 0; i < img.length; i += 3) {
    const r = img[i]!
    const g = img[i + 1]!
    const b = img[i + 2]!
    const max = Math.max(r, g, b)
    const min = Math.min(r, g, b)
    const delta = max - min
    if (delta === 0) continue // grey: hue undefined, unchanged
    let h = max === r ? (g - b) / delta : max === g ? 2 + (b - r) / delta : 4 + (r - g) / delta
    h = h / 6 + shift
    h -= Math.floor(h)
    const s = delta / max
    const v = max
    const h6 = h * 6
    const sector = Math.floor(h6) % 6
    const f = h6 - Math.floor(h6)
    const p = v * (1 - s)
    const q = v * (1 - s * f)
    const t = v * (1 - s * (1 - f))
    const rgb =
      sector === 0
        ? [v, t, p]
        : sector === 1
          ? [q, v, p]
          : sector === 2
            ? [p, v, t]
            : sector === 3
              ? [p, q, v]
              : sector === 4
                ? [t, p, v]
                : [v, p, q]
    img[i] = rgb[0]!
    img[i + 1] = rgb[1]!
    img[i + 2] = rgb[2]!
  }
}

/** RGB only: replace every channel by the ITU-R 601 luma (0.299 R + 0.587 G + 0.114 B). */
export const toGrayscale = (img: Float32Array): void => {
  for (let i = 0; i < img.length; i += 3) {
    const g = luma(img[i]!, img[i + 1]!, img[i + 2]!)
    img[i] = g
    img[i + 1] = g
    img[i + 2] = g
  }
}

/** Normalised 1-D Gaussian taps, `size` odd. */
export const gaussianKernel = (size: number, sigma: number): Float32Array => {
  const k = new Float32Array(size)
  const half = (size - 1) / 2
  let sum = 0
  for (let i = 0; i < size; i++) {
    const x = i - half
    k[i] = Math.exp(-(x * x) / (2 * sigma * sigma))
    sum += k[i]!
  }
  for (let i = 0; i < size; i++) k[i]! /= sum
  return k
}

const reflect = (i: number, n: number): number => {
  if (n === 1) return 0
  const period = 2 * (n - 1)
  let j = ((i % period) + period) % period
  if (j >= n) j = period - j
  return j
}

/** Separable Gaussian blur of an HWC image in place, reflect padding (torchvision's). */
export const gaussianBlur = (
  img: Float32Array,
  height: number,
  width: number,
  channels: number,
  kernelSize: number,
  sigma: number
): void => {
  const k = gaussianKernel(kernelSize, sigma)
  const half = (kernelSize - 1) / 2
  const tmp = new Float32Array(img.length)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        let s = 0
        for (let t = 0; t < kernelSize; t++) s += k[t]! * img[(y * width + reflect(x + t - half, width)) * channels + c]!
        tmp[(y * width + x) * channels + c] = s
      }
    }
  }
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        let s = 0
        for (let t = 0; t < kernelSize; t++) s += k[t]! * tmp[(reflect(y + t - half, height) * width + x) * channels + c]!
        img[(y * width + x) * channels + c] = s
      }
    }
  }
}

/** ColorJitter: brightness, contrast, saturation, hue factors, applied in a random order. */
const colorJitter = (img: Float32Array, channels: number, c: ResolvedAugmentConfig, rng: Rng): void => {
  const factor = (x: number) => rng.uniform(Math.max(0, 1 - x), 1 + x)
  const b = factor(c.brightness)
  const k = factor(c.contrast)
  const s = factor(c.saturation)
  const h = rng.uniform(-c.hue, c.hue)
  const order = rng.permutation(4)
  for (let i = 0; i < 4; i++) {
    switch (order[i]) {
      case 0:
        if (c.brightness > 0) adjustBrightness(img, b)
        break
      case 1:
        if (c.contrast > 0) adjustContrast(img, channels, k)
        break
      case 2:
        if (c.saturation > 0 && channels === 3) adjustSaturation(img, s)
        break
      case 3:
        if (c.hue > 0 && channels === 3) adjustHue(img, h)
        break
    }
  }
}

const checkNormalisation = (c: ResolvedAugmentConfig, channels: number): void => {
  for (const f of ["mean", "std"] as const) {
    if (c[f].length !== 1 && c[f].length !== channels) {
      throw new RangeError(`augment ${f} has ${c[f].length} values for ${channels}-channel images`)
    }
  }
}

const normaliseInto = (img: Float32Array, channels: number, c: ResolvedAugmentConfig, out: Float32Array, offset: number): void => {
  const mean = c.mean
  const std = c.std
  for (let i = 0; i < img.length; i++) {
    const ch = i % channels
    out[offset + i] = (img[i]! - mean[mean.length === 1 ? 0 : ch]!) / std[std.length === 1 ? 0 : ch]!
  }
}

/**
 * One random "aug+" view of each image at `indices`: B*S*S*C, NHWC (S = config.outputSize, C the
 * dataset's channels), normalised with config.mean/std (mean 0, std 1 leaves values in [0, 1]).
 * Every random choice is drawn from `rng`, so the same rng state gives the same batch.
 */
export const augmentBatch = (ds: ImageDataset, indices: ArrayLike<number>, config: AugmentConfig, rng: Rng): Float32Array => {
  const c = resolveAugmentConfig(config)
  const { height, width, channels } = ds
  checkNormalisation(c, channels)
  const S = c.outputSize
  const len = S * S * channels
  const out = new Float32Array(indices.length * len)
  const view = new Float32Array(len)
  for (let b = 0; b < indices.length; b++) {
    const src = imageAt(ds, indices[b]!)
    const box = sampleCropBox(height, width, c.cropScale, c.cropRatio, rng)
    resizeBilinear(src, height, width, channels, box, S, S, view)
    if (rng.bernoulli(c.jitterProb)) colorJitter(view, channels, c, rng)
    if (rng.bernoulli(c.grayscaleProb) && channels === 3) toGrayscale(view)
    if (rng.bernoulli(c.blurProb)) {
      gaussianBlur(view, S, S, channels, c.blurKernelSize, rng.uniform(c.blurSigma[0], c.blurSigma[1]))
    }
    if (rng.bernoulli(c.flipProb)) flipHorizontal(view, S, S, channels)
    normaliseInto(view, channels, c, out, b * len)
  }
  return out
}

/**
 * The deterministic view for the teacher's embeddings and for evaluation: the centered square
 * of side `centerCropFraction` * min(H, W), resized (bilinear) to S x S, normalised. B*S*S*C.
 */
export const centerView = (ds: ImageDataset, indices: ArrayLike<number>, config: AugmentConfig): Float32Array => {
  const c = resolveAugmentConfig(config)
  const { height, width, channels } = ds
  checkNormalisation(c, channels)
  const S = c.outputSize
  const side = Math.min(height, width) * c.centerCropFraction
  const box: CropBox = { top: (height - side) / 2, left: (width - side) / 2, height: side, width: side }
  const len = S * S * channels
  const out = new Float32Array(indices.length * len)
  const view = new Float32Array(len)
  for (let b = 0; b < indices.length; b++) {
    resizeBilinear(imageAt(ds, indices[b]!), height, width, channels, box, S, S, view)
    normaliseInto(view, channels, c, out, b * len)
  }
  return out
}
