import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { gzipSync } from "node:zlib"

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
export const writeIdxDataset = (
  dir: string,
  options: { n: number; m: number; h: number; w: number; gzip: boolean }
): void => {
  mkdirSync(dir, { recursive: true })
  const { h, w } = options
  const write = (name: string, bytes: Uint8Array) =>
    writeFileSync(join(dir, options.gzip ? `${name}.gz` : name), options.gzip ? gzipSync(bytes) : bytes)
  for (const [prefix, count] of [["train", options.n], ["t10k", options.m]] as const) {
    const pixels = new Uint8Array(count * h * w)
    for (let i = 0; i < count; i++) for (let p = 0; p < h * w; p++) pixels[i * h * w + p] = (i * 7 + p) % 256
    write(`${prefix}-images-idx3-ubyte`, idxBytes([count, h, w], pixels))
    write(`${prefix}-labels-idx1-ubyte`, idxBytes([count], Array.from({ length: count }, (_, i) => i % 10)))
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
