import { Effect } from "effect"
import { join } from "node:path"
import { DatasetFormatError, DatasetNotFound, EmptyDataset } from "../DatasetError.ts"
import { isDirectory, isFile, listDirectory, readBytes, requireDirectory } from "../internal/fileIo.ts"
import type { DatasetSplits } from "../DatasetSplits.ts"
import { type ImageDataset, makeImageDataset } from "../ImageDataset.ts"

export const cifar10ClassNames = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"] as const

export type CifarVariant = "cifar10" | "cifar100"

export interface CifarOptions {
  /**
   * The extracted binary archive: cifar-10-batches-bin/ (data_batch_1..5.bin, test_batch.bin) or
   * cifar-100-binary/ (train.bin, test.bin), or a directory containing that folder.
   * Default data/cifar-10-batches-bin or data/cifar-100-binary.
   */
  readonly dir?: string
  readonly variant?: CifarVariant
  readonly limitTrain?: number
  readonly limitTest?: number
  readonly name?: string
}

const SIDE = 32
const PIXELS = SIDE * SIDE
const layout = {
  cifar10: { folder: "cifar-10-batches-bin", labelBytes: 1, numClasses: 10, namesFile: "batches.meta.txt" },
  cifar100: { folder: "cifar-100-binary", labelBytes: 2, numClasses: 100, namesFile: "fine_label_names.txt" }
} as const

/**
 * Decode CIFAR binary records (label byte(s), then 3072 bytes: the 32x32 red, green and blue
 * planes) into HWC floats in [0, 1]. CIFAR-100 records carry (coarse, fine); the fine label is
 * kept. Returns the number of records decoded (at most `limit`).
 */
export const decodeCifarRecords = (
  bytes: Uint8Array,
  path: string,
  variant: CifarVariant,
  images: Array<Float32Array>,
  labels: Array<number>,
  limit: number
): DatasetFormatError | undefined => {
  const { labelBytes, numClasses } = layout[variant]
  const record = labelBytes + 3 * PIXELS
  if (bytes.length % record !== 0) {
    return new DatasetFormatError({
      path,
      reason: `size ${bytes.length} is not a multiple of the ${variant} record size ${record}`
    })
  }
  for (let off = 0; off < bytes.length && labels.length < limit; off += record) {
    const label = bytes[off + labelBytes - 1]!
    if (label >= numClasses) {
      return new DatasetFormatError({ path, reason: `record ${off / record} has label ${label} >= ${numClasses}` })
    }
    const img = new Float32Array(3 * PIXELS)
    const base = off + labelBytes
    for (let p = 0; p < PIXELS; p++) {
      img[3 * p] = bytes[base + p]! / 255
      img[3 * p + 1] = bytes[base + PIXELS + p]! / 255
      img[3 * p + 2] = bytes[base + 2 * PIXELS + p]! / 255
    }
    images.push(img)
    labels.push(label)
  }
  return undefined
}

const readRecords = Effect.fnUntraced(function* (
  paths: ReadonlyArray<string>,
  variant: CifarVariant,
  name: string,
  limit: number | undefined
) {
  const images: Array<Float32Array> = []
  const labels: Array<number> = []
  const max = limit ?? Number.POSITIVE_INFINITY
  for (const path of paths) {
    if (labels.length >= max) break
    const bytes = yield* readBytes(path)
    const error = decodeCifarRecords(bytes, path, variant, images, labels, max)
    if (error !== undefined) return yield* error
  }
  if (labels.length === 0) return yield* new EmptyDataset({ dataset: name })
  const data = new Float32Array(labels.length * 3 * PIXELS)
  images.forEach((img, i) => data.set(img, i * 3 * PIXELS))
  return { images: data, labels: Int32Array.from(labels) }
})

const readClassNames = Effect.fnUntraced(function* (path: string) {
  if (!(yield* isFile(path))) return undefined
  const text = new TextDecoder().decode(yield* readBytes(path))
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
})

/**
 * CIFAR-10 / CIFAR-100 from the binary version of the archives (the "binary version suitable
 * for C programs"): 32 x 32 x 3 images in [0, 1], HWC.
 */
export const loadCifar = Effect.fn("loadCifar")(function* (options: CifarOptions = {}) {
  const variant = options.variant ?? "cifar10"
  const spec = layout[variant]
  let dir = options.dir ?? join("data", spec.folder)
  yield* requireDirectory(dir)
  if (yield* isDirectory(join(dir, spec.folder))) dir = join(dir, spec.folder)
  const name = options.name ?? variant

  let trainPaths: ReadonlyArray<string>
  let testPath: string
  if (variant === "cifar10") {
    const batches = (yield* listDirectory(dir))
      .map((f) => /^data_batch_(\d+)\.bin$/.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .sort((a, b) => Number(a[1]) - Number(b[1]))
      .map((m) => join(dir, m[0]))
    if (batches.length === 0) {
      return yield* new DatasetNotFound({ path: join(dir, "data_batch_1.bin"), reason: "no data_batch_*.bin file" })
    }
    trainPaths = batches
    testPath = join(dir, "test_batch.bin")
  } else {
    trainPaths = [join(dir, "train.bin")]
    testPath = join(dir, "test.bin")
  }
  const train = yield* readRecords(trainPaths, variant, name, options.limitTrain)
  const test = (yield* isFile(testPath)) ? yield* readRecords([testPath], variant, `${name}/test`, options.limitTest) : undefined
  const names = (yield* readClassNames(join(dir, spec.namesFile))) ?? (variant === "cifar10" ? cifar10ClassNames : undefined)
  const classNames = names !== undefined && names.length === spec.numClasses ? names : undefined
  const toDataset = (split: typeof train, splitName: string): ImageDataset =>
    makeImageDataset({
      name: splitName,
      size: split.labels.length,
      height: SIDE,
      width: SIDE,
      channels: 3,
      images: split.images,
      labels: split.labels,
      numClasses: spec.numClasses,
      ...(classNames === undefined ? {} : { classNames })
    })
  const splits: DatasetSplits<ImageDataset> = {
    train: toDataset(train, name),
    ...(test === undefined ? {} : { test: toDataset(test, `${name}/test`) })
  }
  return splits
})
