import { Effect } from "effect"
import type { DatasetError } from "./DatasetError.ts"
import { type ImageDataset, subset } from "./ImageDataset.ts"
import { progressLog } from "./internal/progressLog.ts"

/**
 * Random access to a dataset's images wherever its pixels are kept: in memory (`inMemoryStore`)
 * or in a decoded-image cache file read on demand (`openImageCache`). Shape, name and labels are
 * held in memory (labels are 4 bytes an image); pixels come out by `gather`. Every training and
 * embedding loop of bingo reads its images through `gather`, one batch or chunk at a time, so a
 * dataset larger than memory trains from its cache file.
 */
export interface ImageStore {
  readonly name: string
  /** N, the number of images. */
  readonly size: number
  readonly height: number
  readonly width: number
  readonly channels: number
  readonly labels?: Int32Array
  readonly numClasses?: number
  readonly classNames?: ReadonlyArray<string>
  /** "memory", or the file the pixels are read from. */
  readonly location: string
  /**
   * The images at `indices` (repeats allowed), in that order, as an in-memory dataset of
   * indices.length images with their labels. An index outside [0, size) is a defect (RangeError).
   */
  readonly gather: (indices: ArrayLike<number>) => Effect.Effect<ImageDataset, DatasetError>
}

/** What the stages accept: a dataset held in memory or a store that reads it on demand. */
export type ImageSource = ImageDataset | ImageStore

export const isImageDataset = (source: ImageSource): source is ImageDataset => "images" in source

/** A store over an in-memory dataset: `gather` copies the rows (`subset`). */
export const inMemoryStore = (dataset: ImageDataset): ImageStore => ({
  name: dataset.name,
  size: dataset.size,
  height: dataset.height,
  width: dataset.width,
  channels: dataset.channels,
  ...(dataset.labels === undefined ? {} : { labels: dataset.labels }),
  ...(dataset.numClasses === undefined ? {} : { numClasses: dataset.numClasses }),
  ...(dataset.classNames === undefined ? {} : { classNames: dataset.classNames }),
  location: "memory",
  gather: (indices) => Effect.sync(() => subset(dataset, indices))
})

/** The source as a store (an in-memory dataset wrapped by `inMemoryStore`). */
export const asImageStore = (source: ImageSource): ImageStore => (isImageDataset(source) ? inMemoryStore(source) : source)

/** Options of `forEachChunk` / `mapChunks`. */
export interface ChunkOptions {
  /**
   * Log progress under this label (`<label>: 40960/100000 images (40%, 2300 img/s)`) after each
   * tenth of the images, when there are at least `progressFrom` of them.
   */
  readonly progress?: string
  /** Default 20,000: smaller passes take seconds and log nothing. */
  readonly progressFrom?: number
}

/**
 * Run `f` on consecutive chunks of `chunkSize` images of the source (the last one shorter), in
 * order, each gathered only when its turn comes: an embedding pass over a store holds one chunk
 * of pixels at a time. `start` is the index of the chunk's first image.
 */
export const forEachChunk = <E, R>(
  source: ImageSource,
  chunkSize: number,
  f: (chunk: ImageDataset, start: number) => Effect.Effect<void, E, R>,
  options: ChunkOptions = {}
): Effect.Effect<void, E | DatasetError, R> =>
  Effect.gen(function* () {
    if (!Number.isInteger(chunkSize) || chunkSize < 1)
      throw new RangeError(`forEachChunk: chunkSize must be a positive integer, got ${chunkSize}`)
    if (isImageDataset(source) && source.size <= chunkSize) return yield* f(source, 0)
    const store = asImageStore(source)
    const total = store.size
    const progress =
      options.progress !== undefined && total >= (options.progressFrom ?? 20_000) ? progressLog(options.progress, total) : undefined
    for (let start = 0; start < total; start += chunkSize) {
      const end = Math.min(total, start + chunkSize)
      const chunk = yield* store.gather(Int32Array.from({ length: end - start }, (_, i) => start + i))
      yield* f(chunk, start)
      if (progress !== undefined) yield* progress.report(end)
    }
  })

/** Every image of the source in memory: the dataset itself, or a store's images gathered in order. */
export const gatherAll = (source: ImageSource): Effect.Effect<ImageDataset, DatasetError> =>
  isImageDataset(source) ? Effect.succeed(source) : source.gather(Int32Array.from({ length: source.size }, (_, i) => i))

/**
 * Row-wise outputs of `f` over the whole source, chunk by chunk (`forEachChunk`), concatenated:
 * `f` returns `dim` values per image of its chunk (features, embeddings). Only one chunk of
 * pixels is held at a time; the output is N x dim.
 */
export const mapChunks = <E, R>(
  source: ImageSource,
  chunkSize: number,
  f: (chunk: ImageDataset) => Effect.Effect<{ readonly values: Float32Array; readonly dim: number }, E, R>,
  options: ChunkOptions = {}
): Effect.Effect<{ readonly values: Float32Array; readonly dim: number }, E | DatasetError, R> =>
  Effect.gen(function* () {
    let out: Float32Array | undefined
    let dim = 0
    yield* forEachChunk(
      source,
      chunkSize,
      (chunk, start) =>
        Effect.map(f(chunk), (rows) => {
          if (rows.values.length !== chunk.size * rows.dim) {
            throw new RangeError(`mapChunks: ${rows.values.length} values for ${chunk.size} images of dim ${rows.dim}`)
          }
          dim = rows.dim
          out ??= new Float32Array(source.size * dim)
          out.set(rows.values, start * dim)
        }),
      options
    )
    return { values: out ?? new Float32Array(0), dim }
  })
