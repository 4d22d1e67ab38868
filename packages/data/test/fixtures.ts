import { Effect, Logger } from "effect"
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, extname, join } from "node:path"
import { gzipSync } from "node:zlib"
import sharp from "sharp"

/** A fresh temporary directory. */
export const tempDir = (prefix: string): string => mkdtempSync(join(tmpdir(), `bingo-data-${prefix}-`))

/** IDX bytes for an unsigned-byte array of the given dimensions. */
export const idxBytes = (dims: ReadonlyArray<number>, data: ArrayLike<number>): Uint8Array => {
  const header = 4 + 4 * dims.length
  const out = new Uint8Array(header + data.length)
  out[2] = 0x08
  out[3] = dims.length
  const view = new DataView(out.buffer)
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false))
  out.set(Array.from(data), header)
  return out
}

/**
 * A tiny MNIST-style directory: n train and m test images of h x w whose pixel (y, x) of image i
 * is (i * 7 + y * w + x) % 256, label i % 10. Files gzipped (with .gz names) when `gzip`.
 */
export const writeIdxDataset = (dir: string, options: { n: number; m: number; h: number; w: number; gzip: boolean }): void => {
  mkdirSync(dir, { recursive: true })
  const { h, w } = options
  const write = (name: string, bytes: Uint8Array) =>
    writeFileSync(join(dir, options.gzip ? `${name}.gz` : name), options.gzip ? gzipSync(bytes) : bytes)
  for (const [prefix, count] of [
    ["train", options.n],
    ["t10k", options.m]
  ] as const) {
    const pixels = new Uint8Array(count * h * w)
    for (let i = 0; i < count; i++) for (let p = 0; p < h * w; p++) pixels[i * h * w + p] = (i * 7 + p) % 256
    write(`${prefix}-images-idx3-ubyte`, idxBytes([count, h, w], pixels))
    write(
      `${prefix}-labels-idx1-ubyte`,
      idxBytes(
        [count],
        Array.from({ length: count }, (_, i) => i % 10)
      )
    )
  }
}

/**
 * CIFAR binary records: image i has label labels[i]; its pixel p of channel c (CHW) is
 * (i + 3 * c + p) % 256. CIFAR-100 records get (coarse = label % 20, fine = label).
 */
export const cifarBytes = (labels: ReadonlyArray<number>, variant: "cifar10" | "cifar100"): Uint8Array => {
  const labelBytes = variant === "cifar10" ? 1 : 2
  const record = labelBytes + 3072
  const out = new Uint8Array(labels.length * record)
  labels.forEach((label, i) => {
    const off = i * record
    if (variant === "cifar100") out[off] = label % 20
    out[off + labelBytes - 1] = label
    for (let c = 0; c < 3; c++) for (let p = 0; p < 1024; p++) out[off + labelBytes + c * 1024 + p] = (i + 3 * c + p) % 256
  })
  return out
}

/** The expected HWC float value of `cifarBytes` image i, pixel p, channel c. */
export const cifarPixel = (i: number, p: number, c: number): number => ((i + 3 * c + p) % 256) / 255

/** One solid-colour (or given-pixel) image file written with sharp; the format follows the extension. */
export const writeImage = async (
  path: string,
  image:
    | { width: number; height: number; channels: 1 | 3 | 4; pixel: ReadonlyArray<number> }
    | {
        width: number
        height: number
        channels: 1 | 3 | 4
        data: Uint8Array
      }
): Promise<void> => {
  const { width, height, channels } = image
  const data = "data" in image ? image.data : new Uint8Array(width * height * channels)
  if ("pixel" in image) for (let i = 0; i < data.length; i++) data[i] = image.pixel[i % channels]!
  mkdirSync(dirname(path), { recursive: true })
  const img = sharp(data, { raw: { width, height, channels } })
  const ext = extname(path).toLowerCase()
  const encoded = ext === ".png" ? img.png() : ext === ".webp" ? img.webp({ lossless: true }) : img.jpeg({ quality: 95 })
  await encoded.toFile(path)
}

/**
 * A small image folder with 3 classes (sorted: cat, dog, fish) and 6 images of different sizes
 * and kinds, listed here in the order `listImageFolder` returns them, with the RGB each decodes to:
 * cat/a.png (red, 20x30 RGB), cat/b.jpg (red, 40x40 JPEG), dog/c.png (grey 128, 1-channel),
 * dog/d.png (green with alpha 128, RGBA), fish/e.webp (blue, lossless), fish/sub/f.png (yellow,
 * nested). Also dog/notes.txt and .hidden/x.png, which are ignored.
 */
export const folderImages = [
  { file: "cat/a.png", label: 0, rgb: [255, 0, 0], spec: { width: 20, height: 30, channels: 3, pixel: [255, 0, 0] } },
  { file: "cat/b.jpg", label: 0, rgb: [255, 0, 0], spec: { width: 40, height: 40, channels: 3, pixel: [255, 0, 0] } },
  { file: "dog/c.png", label: 1, rgb: [128, 128, 128], spec: { width: 25, height: 25, channels: 1, pixel: [128] } },
  { file: "dog/d.png", label: 1, rgb: [0, 255, 0], spec: { width: 24, height: 16, channels: 4, pixel: [0, 255, 0, 128] } },
  { file: "fish/e.webp", label: 2, rgb: [0, 0, 255], spec: { width: 32, height: 16, channels: 3, pixel: [0, 0, 255] } },
  { file: "fish/sub/f.png", label: 2, rgb: [255, 255, 0], spec: { width: 9, height: 11, channels: 3, pixel: [255, 255, 0] } }
] as const

export const writeImageFolder = async (root: string): Promise<void> => {
  for (const { file, spec } of folderImages) await writeImage(join(root, file), spec)
  writeFileSync(join(root, "dog", "notes.txt"), "not an image")
  await writeImage(join(root, ".hidden", "x.png"), { width: 4, height: 4, channels: 3, pixel: [1, 2, 3] })
}

/**
 * A small file in scikit-learn's digits format (gzipped CSV, 64 pixels 0..16 + label): n images,
 * label i % 10, pixel p of image i = (i + p) % 17. Returns the file's path.
 */
export const writeDigitsCsv = (dir: string, n: number): string => {
  const lines: Array<string> = []
  for (let i = 0; i < n; i++) {
    lines.push([...Array.from({ length: 64 }, (_, p) => (i + p) % 17), i % 10].join(","))
  }
  const path = join(dir, "digits.csv.gz")
  writeFileSync(path, gzipSync(`${lines.join("\n")}\n`))
  return path
}

/** Run `effect` with a logger that records each line as "<Level> <message>" (Info, Warn, ...). */
export const captureLogs = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const lines: Array<string> = []
    const logger = Logger.make(({ logLevel, message }) => {
      lines.push(`${logLevel} ${(Array.isArray(message) ? message : [message]).map(String).join(" ")}`)
    })
    const value = yield* effect.pipe(Effect.provide(Logger.layer([logger])))
    return { value, lines }
  })
