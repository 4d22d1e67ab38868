import { Effect, Fiber, Semaphore, Stream } from "effect"
import type { CorruptImage } from "../DatasetError.ts"
import { type DecodedFolder, decodeFolder, type DecodeFolderOptions } from "../formats/decodeFolder.ts"
import { sharpCacheOffScoped } from "../formats/decodeImage.ts"
import type { ImageDataset } from "../ImageDataset.ts"
import type { ImageFolderListing } from "../formats/listImageFolder.ts"

export interface StreamBatchesOptions extends Omit<DecodeFolderOptions, "indices" | "semaphore" | "progress"> {
  /**
   * The epoch's order: a permutation of (a subset of) 0..files-1, e.g. `rng.permutation(n)`;
   * default 0, 1, ..., n-1. Batches are consecutive slices of it.
   */
  readonly order?: ArrayLike<number>
  /** Batches decoded ahead of the one being consumed (default 2; 0 decodes on demand). */
  readonly prefetch?: number
  /**
   * Decodes in flight, shared by the current and the prefetched batches; default
   * `batchSize * (prefetch + 1)`, the whole window. sharp reads, decodes and resizes a file as one
   * job on libuv's thread pool (4 threads unless UV_THREADPOOL_SIZE says otherwise, jobs run in
   * order), so jobs handed over keep running while JavaScript is blocked in a TF.js step; a
   * lower limit starts the next decodes only when JavaScript is free again (see the README for
   * the measured difference).
   */
  readonly concurrency?: number
  /** Drop a last batch smaller than `batchSize` (default false). */
  readonly dropLast?: boolean
}

/** One batch of a streamed image folder. */
export interface FolderBatch {
  /** Position of the batch in the epoch (0, 1, ...). */
  readonly batch: number
  /** The decoded images, B x S x S x C in [0, 1], labelled: `augmentBatch(batch.dataset, ...)` takes it as is. */
  readonly dataset: ImageDataset
  /** For image i of `dataset`, its index in `listing.files` (the batch's slice of `order`, minus skipped files). */
  readonly indices: Int32Array
  /** Files of this batch left out as corrupt ("skip" mode). */
  readonly skipped: ReadonlyArray<CorruptImage>
}

/**
 * One epoch of an image folder as a stream of decoded batches, for datasets too big to hold in
 * memory or to start training before a folder is decoded. While batch b is consumed, batches
 * b+1 .. b+prefetch are being decoded (at most `concurrency` decodes in flight, the earliest
 * batch first), so decoding overlaps the consumer's compute, also while the consumer blocks the
 * JavaScript thread (by default every decode of the window is handed to libuv's thread pool).
 * Every index of `order` is yielded exactly once, in order, except corrupt files ("skip":
 * logged with their path, listed in the batch's `skipped`, a batch left empty is not emitted;
 * "fail": the stream fails with `CorruptImage`).
 *
 * The stream owns what it starts: when the consumer stops early (`Stream.take`, an error,
 * interruption) the decode fibers still running are interrupted and no new decode starts.
 * sharp jobs already handed to libuv cannot be cancelled: they finish in the background and
 * their results are dropped. Outside Effect, iterate it with `Stream.toAsyncIterable`.
 */
export const streamBatches = (
  listing: ImageFolderListing,
  batchSize: number,
  options: StreamBatchesOptions
): Stream.Stream<FolderBatch, CorruptImage> => {
  const n = listing.files.length
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`streamBatches: batchSize must be a positive integer, got ${batchSize}`)
  }
  const prefetch = options.prefetch ?? 2
  if (!Number.isInteger(prefetch) || prefetch < 0) {
    throw new RangeError(`streamBatches: prefetch must be a non-negative integer, got ${prefetch}`)
  }
  const concurrency = options.concurrency ?? batchSize * (prefetch + 1)
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`streamBatches: concurrency must be a positive integer, got ${concurrency}`)
  }
  const order = options.order === undefined ? Int32Array.from({ length: n }, (_, i) => i) : Int32Array.from(options.order)
  for (const i of order) {
    if (i < 0 || i >= n) throw new RangeError(`streamBatches: order holds ${i}, outside [0, ${n})`)
  }
  const slices: Array<Int32Array> = []
  for (let start = 0; start < order.length; start += batchSize) {
    const end = Math.min(start + batchSize, order.length)
    if (end - start < batchSize && options.dropLast === true) break
    slices.push(order.subarray(start, end))
  }
  const { order: _order, prefetch: _prefetch, dropLast: _dropLast, ...decodeOptions } = options

  return Stream.unwrap(
    Effect.gen(function* () {
      // The stream's scope: fibers forked into it are interrupted when the stream ends for any reason.
      const scope = yield* Effect.scope
      if (options.decoder === undefined) yield* sharpCacheOffScoped
      const semaphore = yield* Semaphore.make(concurrency)
      const running = new Map<number, Fiber.Fiber<DecodedFolder | undefined, CorruptImage>>()
      let skippedTotal = 0

      const decodeBatch = (b: number) =>
        decodeFolder(listing, { ...decodeOptions, indices: slices[b]!, semaphore, concurrency, progress: false }).pipe(
          // Every file of the batch corrupt ("skip" mode): each was logged; emit nothing for it.
          Effect.catchTag("EmptyDataset", () => Effect.succeed(undefined)),
          Effect.tap((d) => Effect.sync(() => (skippedTotal += d === undefined ? slices[b]!.length : d.skipped.length)))
        )

      // Batches are taken in order: b, then b+1, ...; taking b starts b..b+prefetch if not yet started.
      const take = (b: number) =>
        Effect.gen(function* () {
          for (let j = b; j <= Math.min(b + prefetch, slices.length - 1); j++) {
            if (!running.has(j)) running.set(j, yield* Effect.forkIn(decodeBatch(j), scope))
          }
          const fiber = running.get(b)!
          running.delete(b)
          const decoded = yield* Fiber.join(fiber)
          if (decoded === undefined) return undefined
          const batch: FolderBatch = { batch: b, dataset: decoded.dataset, indices: decoded.indices, skipped: decoded.skipped }
          return batch
        })

      return Stream.fromIterable(slices.map((_, b) => b)).pipe(
        Stream.mapEffect(take),
        Stream.filter((batch): batch is FolderBatch => batch !== undefined),
        Stream.onEnd(
          Effect.suspend(() =>
            skippedTotal === 0
              ? Effect.void
              : Effect.logWarning(`image folder ${listing.root}: skipped ${skippedTotal} of ${order.length} images this epoch`)
          )
        )
      )
    })
  )
}
