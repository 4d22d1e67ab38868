import { Effect } from "effect"
import { basename, join } from "node:path"
import { DatasetNotFound, EmptyDataset, ImageShapeMismatch } from "../DatasetError.ts"
import { isFile, requireDirectory } from "../internal/fileIo.ts"
import type { DatasetSplits } from "../DatasetSplits.ts"
import { type ImageDataset, makeImageDataset } from "../ImageDataset.ts"
import { readIdx } from "./readIdx.ts"

/** Where Debian's `dataset-fashion-mnist` package puts the files. */
export const defaultIdxDir = "/usr/share/datasets/fashion-mnist"

export const fashionMnistClassNames = [
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot"
] as const

export interface IdxOptions {
  /** Directory holding train-images-idx3-ubyte(.gz) etc. Default `defaultIdxDir`. */
  readonly dir?: string
  /** Keep only the first n training / test images. */
  readonly limitTrain?: number
  readonly limitTest?: number
  /** Dataset name; default the directory's name. */
  readonly name?: string
}

/** The file names tried for one IDX file, in order (plain, gzipped, MNIST's dotted spelling). */
const candidates = (base: string): ReadonlyArray<string> => {
  const dotted = base.replace("-idx", ".idx")
  return [base, `${base}.gz`, dotted, `${dotted}.gz`]
}

const findIdxFile = Effect.fnUntraced(function* (dir: string, base: string) {
  for (const name of candidates(base)) {
    const path = join(dir, name)
    if (yield* isFile(path)) return path
  }
  return undefined
})

const readSplit = Effect.fnUntraced(function* (dir: string, prefix: "train" | "t10k", name: string, limit: number | undefined) {
  const imagesPath = yield* findIdxFile(dir, `${prefix}-images-idx3-ubyte`)
  const labelsPath = yield* findIdxFile(dir, `${prefix}-labels-idx1-ubyte`)
  if (imagesPath === undefined || labelsPath === undefined) {
    const missing = imagesPath === undefined ? `${prefix}-images-idx3-ubyte` : `${prefix}-labels-idx1-ubyte`
    return yield* new DatasetNotFound({
      path: join(dir, missing),
      reason: `tried ${candidates(missing).join(", ")}`
    })
  }
  const images = yield* readIdx(imagesPath, 3)
  const labels = yield* readIdx(labelsPath, 1)
  const [n, height, width] = images.dims as [number, number, number]
  if (labels.dims[0] !== n) {
    return yield* new ImageShapeMismatch({ path: labelsPath, expected: [n], actual: [...labels.dims] })
  }
  const size = Math.min(n, limit ?? n)
  if (size === 0) return yield* new EmptyDataset({ dataset: name })
  const pixels = size * height * width
  const data = new Float32Array(pixels)
  for (let i = 0; i < pixels; i++) data[i] = images.data[i]! / 255
  return { path: imagesPath, size, height, width, images: data, labels: Int32Array.from(labels.data.subarray(0, size)) }
})

/**
 * MNIST-format datasets (MNIST, Fashion-MNIST, KMNIST, ...) from IDX files: train-images-idx3-ubyte,
 * train-labels-idx1-ubyte and, when present, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte,
 * each raw or gzipped. Images become N x H x W x 1 in [0, 1].
 */
export const loadIdx = Effect.fn("loadIdx")(function* (options: IdxOptions = {}) {
  const dir = options.dir ?? defaultIdxDir
  yield* requireDirectory(dir)
  const name = options.name ?? basename(dir)
  const train = yield* readSplit(dir, "train", name, options.limitTrain)
  const hasTest =
    (yield* findIdxFile(dir, "t10k-images-idx3-ubyte")) !== undefined || (yield* findIdxFile(dir, "t10k-labels-idx1-ubyte")) !== undefined
  const test = hasTest ? yield* readSplit(dir, "t10k", `${name}/test`, options.limitTest) : undefined
  if (test !== undefined && (test.height !== train.height || test.width !== train.width)) {
    return yield* new ImageShapeMismatch({
      path: test.path,
      expected: [train.height, train.width],
      actual: [test.height, test.width]
    })
  }
  let maxLabel = 0
  for (const split of test === undefined ? [train] : [train, test]) {
    for (let i = 0; i < split.labels.length; i++) maxLabel = Math.max(maxLabel, split.labels[i]!)
  }
  const numClasses = maxLabel + 1
  const classNames: ReadonlyArray<string> =
    name.toLowerCase().includes("fashion") && numClasses <= 10
      ? fashionMnistClassNames.slice(0, numClasses)
      : Array.from({ length: numClasses }, (_, i) => String(i))
  const toDataset = (split: typeof train, splitName: string): ImageDataset =>
    makeImageDataset({
      name: splitName,
      size: split.size,
      height: split.height,
      width: split.width,
      channels: 1,
      images: split.images,
      labels: split.labels,
      numClasses,
      classNames
    })
  const splits: DatasetSplits<ImageDataset> = {
    train: toDataset(train, name),
    ...(test === undefined ? {} : { test: toDataset(test, `${name}/test`) })
  }
  return splits
})
