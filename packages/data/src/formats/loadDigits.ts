import { Rng } from "@bingo/runtime"
import { Effect } from "effect"
import { gunzipSync } from "node:zlib"
import { DatasetFormatError, DatasetNotFound, EmptyDataset } from "../DatasetError.ts"
import { readBytes } from "../internal/fileIo.ts"
import type { DatasetSplits } from "../DatasetSplits.ts"
import { type ImageDataset, makeImageDataset } from "../ImageDataset.ts"
import { resizeBilinear } from "../augment/augment.ts"

/** Where Debian's `python3-sklearn` package puts scikit-learn's bundled 8x8 digits. */
export const defaultDigitsFile = "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz"

export const digitsDefaults = { size: 8, testFraction: 0.2, seed: 0, name: "digits" } as const

/** The digits' native side and largest pixel value. */
const SIDE = 8
const MAX_PIXEL = 16
const NUM_CLASSES = 10

export interface DigitsOptions {
  /** The gzipped (or plain) CSV: one image a line, 64 pixel values 0..16 row-major, then the label. */
  readonly file?: string
  /** Side of the images; above 8 they are upsampled with bilinear resize (half-pixel centres). Default 8. */
  readonly size?: number
  /** Fraction of each class held out as the test split (stratified, seeded); 0 gives no test split. Default 0.2. */
  readonly testFraction?: number
  /** Seed of the split. Default 0. */
  readonly seed?: number
  /** Dataset name. Default "digits". */
  readonly name?: string
}

/** The parsed file: N images of 8x8 in [0, 1] (pixel / 16) and N labels in 0..9. */
export interface DigitsTable {
  readonly size: number
  readonly images: Float32Array
  readonly labels: Int32Array
}

const isGzip = (bytes: Uint8Array): boolean => bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b

/**
 * Parse scikit-learn's digits CSV (no header; 65 integer columns: 64 pixels 0..16, label 0..9).
 * A malformed line is a `DatasetFormatError` naming the file and the 1-based line.
 */
export const parseDigitsCsv = (text: string, path: string): DigitsTable | DatasetFormatError => {
  const lines = text.split(/\r?\n/).filter((l) => l.trim().length > 0)
  const images = new Float32Array(lines.length * SIDE * SIDE)
  const labels = new Int32Array(lines.length)
  for (let i = 0; i < lines.length; i++) {
    const fields = lines[i]!.split(",")
    if (fields.length !== SIDE * SIDE + 1) {
      return new DatasetFormatError({ path, reason: `line ${i + 1} has ${fields.length} columns, expected 65 (64 pixels + label)` })
    }
    for (let p = 0; p < SIDE * SIDE; p++) {
      const v = Number(fields[p])
      if (!Number.isInteger(v) || v < 0 || v > MAX_PIXEL) {
        return new DatasetFormatError({ path, reason: `line ${i + 1}, column ${p + 1}: pixel '${fields[p]}' is not an integer in 0..16` })
      }
      images[i * SIDE * SIDE + p] = v / MAX_PIXEL
    }
    const label = Number(fields[SIDE * SIDE])
    if (!Number.isInteger(label) || label < 0 || label >= NUM_CLASSES) {
      return new DatasetFormatError({ path, reason: `line ${i + 1}: label '${fields[SIDE * SIDE]}' is not an integer in 0..9` })
    }
    labels[i] = label
  }
  return { size: lines.length, images, labels }
}

/**
 * A stratified, seeded split: each class's indices are shuffled with one `Rng` seeded by `seed`
 * (classes in order 0..9) and the first round(testFraction x class size) go to the test split.
 * Both index lists come back in ascending (file) order.
 */
export const splitDigits = (
  labels: Int32Array,
  testFraction: number,
  seed: number
): { readonly train: Int32Array; readonly test: Int32Array } => {
  const rng = Rng.fromSeed(seed)
  const isTest = new Uint8Array(labels.length)
  for (let c = 0; c < NUM_CLASSES; c++) {
    const members: Array<number> = []
    for (let i = 0; i < labels.length; i++) if (labels[i] === c) members.push(i)
    const order = rng.permutation(members.length)
    const held = Math.round(testFraction * members.length)
    for (let j = 0; j < held; j++) isTest[members[order[j]!]!] = 1
  }
  const train: Array<number> = []
  const test: Array<number> = []
  for (let i = 0; i < labels.length; i++) (isTest[i] === 1 ? test : train).push(i)
  return { train: Int32Array.from(train), test: Int32Array.from(test) }
}

const toDataset = (table: DigitsTable, indices: Int32Array, side: number, name: string): ImageDataset => {
  const images = new Float32Array(indices.length * side * side)
  const box = { top: 0, left: 0, height: SIDE, width: SIDE }
  for (let j = 0; j < indices.length; j++) {
    const src = table.images.subarray(indices[j]! * SIDE * SIDE, (indices[j]! + 1) * SIDE * SIDE)
    const dst = images.subarray(j * side * side, (j + 1) * side * side)
    if (side === SIDE) dst.set(src)
    else resizeBilinear(src, SIDE, SIDE, 1, box, side, side, dst)
  }
  return makeImageDataset({
    name,
    size: indices.length,
    height: side,
    width: side,
    channels: 1,
    images,
    labels: Int32Array.from(indices, (i) => table.labels[i]!),
    numClasses: NUM_CLASSES,
    classNames: Array.from({ length: NUM_CLASSES }, (_, i) => String(i))
  })
}

/**
 * scikit-learn's bundled 8x8 handwritten digits (UCI "optdigits" test set: 1,797 images, 10
 * classes, pixel counts 0..16), read from the CSV Debian's `python3-sklearn` ships. Pixels are
 * scaled to [0, 1] (divided by 16), one channel; `size` > 8 upsamples bilinearly. The file has
 * no split of its own: `testFraction` of each class is held out (`splitDigits`).
 */
export const loadDigits = Effect.fn("loadDigits")(function* (options: DigitsOptions = {}) {
  const file = options.file ?? defaultDigitsFile
  const { size, testFraction, seed, name } = { ...digitsDefaults, ...options }
  const raw = yield* readBytes(file).pipe(
    Effect.mapError(
      (e) =>
        new DatasetNotFound({
          path: file,
          reason: `${e.reason ?? "unreadable"}; Debian ships scikit-learn's digits in python3-sklearn: apt-get install python3-sklearn`
        })
    )
  )
  const bytes = isGzip(raw)
    ? yield* Effect.try({
        try: () => gunzipSync(raw),
        catch: (e) => new DatasetFormatError({ path: file, reason: `gzip: ${(e as Error).message}` })
      })
    : raw
  const table = parseDigitsCsv(new TextDecoder().decode(bytes), file)
  if (table instanceof DatasetFormatError) return yield* table
  if (table.size === 0) return yield* new EmptyDataset({ dataset: name, path: file })
  const split = splitDigits(table.labels, testFraction, seed)
  if (split.train.length === 0) {
    return yield* new EmptyDataset({ dataset: name, path: file, reason: `testFraction ${testFraction} leaves no training image` })
  }
  const splits: DatasetSplits<ImageDataset> = {
    train: toDataset(table, split.train, size, name),
    ...(split.test.length === 0 ? {} : { test: toDataset(table, split.test, size, `${name}/test`) })
  }
  return splits
})
