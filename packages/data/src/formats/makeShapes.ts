import { Rng } from "@bingo/runtime"
import { type ImageDataset, makeImageDataset } from "../ImageDataset.ts"

/**
 * The ten classes of the synthetic "shapes" dataset. Rotations are kept within +-15 degrees so
 * that plus/cross, square/(a 45-degree square) and horizontal/vertical bars stay distinct.
 */
export const shapeClassNames = [
  "disk",
  "ring",
  "square",
  "frame",
  "triangle",
  "plus",
  "cross",
  "horizontal-bars",
  "vertical-bars",
  "l-shape"
] as const

/** Membership of a point (u right, v down, the shape's extent about [-1, 1]^2) in each class. */
const inside: ReadonlyArray<(u: number, v: number) => boolean> = [
  (u, v) => u * u + v * v <= 1,
  (u, v) => {
    const r2 = u * u + v * v
    return r2 <= 1 && r2 >= 0.25
  },
  (u, v) => Math.max(Math.abs(u), Math.abs(v)) <= 0.85,
  (u, v) => {
    const m = Math.max(Math.abs(u), Math.abs(v))
    return m <= 0.85 && m >= 0.45
  },
  (u, v) => v <= 0.8 && v >= -0.9 && Math.abs(u) <= (v + 0.9) / 1.7,
  (u, v) => plus(u, v),
  (u, v) => plus((u + v) * Math.SQRT1_2, (v - u) * Math.SQRT1_2),
  (u, v) => Math.abs(u) <= 0.95 && (Math.abs(v - 0.5) <= 0.22 || Math.abs(v + 0.5) <= 0.22),
  (u, v) => Math.abs(v) <= 0.95 && (Math.abs(u - 0.5) <= 0.22 || Math.abs(u + 0.5) <= 0.22),
  (u, v) => (u >= -0.95 && u <= -0.4 && Math.abs(v) <= 0.95) || (v >= 0.4 && v <= 0.95 && Math.abs(u) <= 0.95)
]

function plus(u: number, v: number): boolean {
  const au = Math.abs(u)
  const av = Math.abs(v)
  return (au <= 0.28 && av <= 1) || (av <= 0.28 && au <= 1)
}

export interface ShapesOptions {
  /** Number of images. */
  readonly n: number
  /** Side in pixels (default 16). */
  readonly size?: number
  /** 1: grey shapes on a grey background (default); 3: coloured shapes on a coloured background. */
  readonly channels?: 1 | 3
  readonly seed?: number
  readonly name?: string
}

/** Sub-pixel samples per axis used to anti-alias the shapes. */
const SUPERSAMPLE = 4
const MAX_ROTATION = (15 * Math.PI) / 180

const luminance = (r: number, g: number, b: number): number => 0.299 * r + 0.587 * g + 0.114 * b

/**
 * A synthetic, labelled dataset for the quickstart, fully determined by `seed`.
 *
 * Each image holds one of ten shapes (`shapeClassNames`) at a random position, scale (radius
 * 22-40% of the side), aspect (+-15%) and rotation (+-15 degrees), anti-aliased, brighter than a
 * background of random level with a random linear illumination gradient and Gaussian pixel
 * noise. With 3 channels the shape and background get random colours whose luminance still
 * differs by at least 0.25 (so grayscale augmentation keeps the shape visible). The classes are
 * balanced (counts differ by at most one) and appear in random order.
 *
 * The nuisance factors make raw pixels a poor representation (a nearest-class-mean classifier on
 * pixels is far from perfect) while the class is always visible, so invariance learned from
 * augmentations pays off.
 */
export const makeShapes = (options: ShapesOptions): ImageDataset => {
  const n = options.n
  const size = options.size ?? 16
  const channels = options.channels ?? 1
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`makeShapes: n must be a non-negative integer, got ${n}`)
  if (!Number.isInteger(size) || size < 4) throw new RangeError(`makeShapes: size must be an integer >= 4, got ${size}`)
  if (channels !== 1 && channels !== 3) throw new RangeError(`makeShapes: channels must be 1 or 3, got ${channels}`)
  const rng = Rng.fromSeed(options.seed ?? 0)
  const numClasses = shapeClassNames.length

  const labels = new Int32Array(n)
  const order = rng.permutation(n)
  for (let i = 0; i < n; i++) labels[order[i]!] = i % numClasses

  const plane = size * size
  const images = new Float32Array(n * plane * channels)
  const coverage = new Float32Array(plane)
  const fg = new Float32Array(channels)
  const bg = new Float32Array(channels)
  const step = 1 / SUPERSAMPLE

  for (let i = 0; i < n; i++) {
    const shape = inside[labels[i]!]!
    const radius = rng.uniform(0.22, 0.4) * size
    const stretch = Math.exp(rng.uniform(-0.15, 0.15))
    const rx = radius * stretch
    const ry = radius / stretch
    const angle = rng.uniform(-MAX_ROTATION, MAX_ROTATION)
    const margin = 0.8 * radius
    const cx = rng.uniform(margin, size - margin)
    const cy = rng.uniform(margin, size - margin)
    const cos = Math.cos(angle)
    const sin = Math.sin(angle)

    // Colours: the shape is brighter than the background by `contrast` (in luminance).
    if (channels === 1) {
      const contrast = rng.uniform(0.3, 0.7)
      bg[0] = rng.uniform(0, 1 - contrast)
      fg[0] = bg[0]! + contrast
    } else {
      for (;;) {
        for (let c = 0; c < 3; c++) bg[c] = rng.uniform(0, 0.8)
        for (let c = 0; c < 3; c++) fg[c] = rng.uniform(0.2, 1)
        if (luminance(fg[0]!, fg[1]!, fg[2]!) - luminance(bg[0]!, bg[1]!, bg[2]!) >= 0.25) break
      }
    }
    const gradient = rng.uniform(0, 0.2)
    const gradAngle = rng.uniform(0, 2 * Math.PI)
    const gx = (gradient * Math.cos(gradAngle)) / size
    const gy = (gradient * Math.sin(gradAngle)) / size
    const noise = rng.uniform(0.02, 0.06)

    // Anti-aliased coverage of the shape in each pixel (only pixels near the shape can be hit:
    // every class fits in the square of side 2 * sqrt(2) * max(rx, ry) around the centre).
    coverage.fill(0)
    const reach = Math.SQRT2 * Math.max(rx, ry) + 1
    const y0 = Math.max(0, Math.floor(cy - reach))
    const y1 = Math.min(size, Math.ceil(cy + reach))
    const x0 = Math.max(0, Math.floor(cx - reach))
    const x1 = Math.min(size, Math.ceil(cx + reach))
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        let hits = 0
        for (let sy = 0; sy < SUPERSAMPLE; sy++) {
          const py = y + (sy + 0.5) * step - cy
          for (let sx = 0; sx < SUPERSAMPLE; sx++) {
            const px = x + (sx + 0.5) * step - cx
            // Undo the rotation, then the scale: canonical coordinates of the sample.
            const u = (cos * px + sin * py) / rx
            const v = (-sin * px + cos * py) / ry
            if (shape(u, v)) hits++
          }
        }
        coverage[y * size + x] = hits / (SUPERSAMPLE * SUPERSAMPLE)
      }
    }

    const base = i * plane * channels
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const a = coverage[y * size + x]!
        const shade = gx * (x - size / 2) + gy * (y - size / 2)
        for (let c = 0; c < channels; c++) {
          const value = (bg[c]! + shade) * (1 - a) + fg[c]! * a + noise * rng.normal()
          images[base + (y * size + x) * channels + c] = value < 0 ? 0 : Math.min(value, 1)
        }
      }
    }
  }

  return makeImageDataset({
    name: options.name ?? "shapes",
    size: n,
    height: size,
    width: size,
    channels,
    images,
    labels,
    numClasses,
    classNames: shapeClassNames
  })
}
