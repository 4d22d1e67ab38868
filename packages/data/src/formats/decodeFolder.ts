import { Effect, Semaphore } from "effect"
import { CorruptImage, EmptyDataset } from "../DatasetError.ts"
import { decodeImage, type DecodeImageOptions, type ImageDecoder } from "./decodeImage.ts"
import { type ImageDataset, makeImageDataset } from "../ImageDataset.ts"
import { folderName, type ImageFolderListing } from "./listImageFolder.ts"
import { progressLog } from "../internal/progressLog.ts"

export interface DecodeFolderOptions extends DecodeImageOptions {
  /**
   * "skip" (default): a corrupt or unreadable file is logged (one warning naming it, then a
   * count) and left out; "fail": the first one fails the whole decode with `CorruptImage`.
   */
  readonly onCorrupt?: "skip" | "fail"
  /** Decodes in flight (default 8). */
  readonly concurrency?: number
  /**
   * Permits shared with other decodes, replacing `concurrency` (`streamBatches` uses one for all
   * its batches). Waiters are served first come, first served.
   */
  readonly semaphore?: Semaphore.Semaphore
  /** Decode only these entries of `listing.files`, in this order (default all). */
  readonly indices?: ArrayLike<number>
  /** Log progress every 10% (default: when there are at least 1,000 files). */
  readonly progress?: boolean
  /** Name of the resulting dataset (default the listing root's last segment). */
  readonly name?: string
  /** Default `decodeImage` (sharp). */
  readonly decoder?: ImageDecoder
}

export interface DecodedFolder {
  /** The decoded images, N x S x S x C in [0, 1], labelled, with the listing's class names. */
  readonly dataset: ImageDataset
  /** For image i of `dataset`, its index in `listing.files`. */
  readonly indices: Int32Array
  /** The files left out ("skip" mode), in listing order. */
  readonly skipped: ReadonlyArray<CorruptImage>
}

export const defaultDecodeConcurrency = 8
const progressThreshold = 1000
/** Byte b as the float b / 255 (the exact values every loader produces). */
export const byteToUnit = Float32Array.from({ length: 256 }, (_, i) => i / 255)

/** What `decodeFiles` reports: which slots decoded, and the files left out. */
export interface DecodedFiles {
  /** ok[slot] is 1 when `indices[slot]` decoded (its bytes went to `onImage`), 0 when skipped. */
  readonly ok: Uint8Array
  /** The files left out ("skip" mode), in slot order. */
  readonly skipped: ReadonlyArray<CorruptImage>
}

/**
 * The decoding loop shared by `decodeFolder` and `writeImageCache`: decode `listing.files` at
 * `indices` (at most `concurrency` in flight, or through `semaphore`), handing each image's
 * S*S*C bytes to `onImage(slot, bytes)` as it completes (completion order, not slot order), and
 * `onImage(slot, error)` for a file skipped as corrupt.
 * Corrupt files are logged and skipped, or fail the whole decode (`onCorrupt: "fail"`); progress
 * is logged every 10%.
 */
export const decodeFiles = Effect.fn("decodeFiles")(function* (
  listing: ImageFolderListing,
  indices: Int32Array,
  options: DecodeFolderOptions,
  onImage: (slot: number, image: Uint8Array | CorruptImage) => void
) {
  const decoder = options.decoder ?? decodeImage
  const name = options.name ?? folderName(listing.root)
  const total = indices.length
  const len = options.size * options.size * options.channels
  const ok = new Uint8Array(total)
  const failures: Array<CorruptImage | undefined> = new Array(total)
  const concurrency = options.concurrency ?? defaultDecodeConcurrency
  const progress = (options.progress ?? total >= progressThreshold) ? progressLog(`decoding ${name}`, total) : undefined
  let done = 0

  for (const i of indices) {
    if (i < 0 || i >= listing.files.length) {
      throw new RangeError(`decodeFolder: index ${i} out of range [0, ${listing.files.length})`)
    }
  }

  const decodeOne = (slot: number) => {
    const path = listing.files[indices[slot]!]!
    const decode = decoder(path, options).pipe(
      Effect.flatMap((bytes) => {
        if (bytes.length !== len) {
          return Effect.fail(new CorruptImage({ path, reason: `decoder returned ${bytes.length} bytes, expected ${len}` }))
        }
        onImage(slot, bytes)
        ok[slot] = 1
        return Effect.void
      }),
      Effect.catchTag("CorruptImage", (error) =>
        options.onCorrupt === "fail"
          ? Effect.fail(error)
          : Effect.sync(() => {
              failures[slot] = error
              onImage(slot, error)
            }).pipe(Effect.andThen(Effect.logWarning(`skipped corrupt image ${error.path}: ${error.reason}`)))
      ),
      Effect.tap(() => (progress === undefined ? Effect.void : progress.report(++done)))
    )
    return options.semaphore === undefined ? decode : Semaphore.withPermit(options.semaphore, decode)
  }

  // With a shared semaphore every file queues on it at once, in order, so the files of an
  // earlier call (an earlier batch) get their permits before those of a later one.
  yield* Effect.forEach(
    Array.from({ length: total }, (_, slot) => slot),
    decodeOne,
    {
      concurrency: options.semaphore === undefined ? concurrency : "unbounded",
      discard: true
    }
  )

  const skipped = failures.filter((f): f is CorruptImage => f !== undefined)
  if (skipped.length > 0) {
    yield* Effect.logWarning(`image folder ${name}: skipped ${skipped.length} of ${total} images (corrupt or unreadable)`)
  }
  const result: DecodedFiles = { ok, skipped }
  return result
})

/**
 * Decode the files of an image-folder listing (or the entries `indices` of it) into one
 * in-memory dataset, at most `concurrency` decodes in flight, writing each image straight into
 * its slot of the result. With `onCorrupt: "skip"` nothing but the corrupt files is lost: each is
 * logged with its path and reason and returned in `skipped`. Fails with `EmptyDataset` when no
 * file could be decoded.
 */
export const decodeFolder = Effect.fn("decodeFolder")(function* (listing: ImageFolderListing, options: DecodeFolderOptions) {
  const name = options.name ?? folderName(listing.root)
  const indices =
    options.indices === undefined ? Int32Array.from({ length: listing.files.length }, (_, i) => i) : Int32Array.from(options.indices)
  const total = indices.length
  const { size, channels } = options
  const len = size * size * channels
  const images = new Float32Array(total * len)
  const { ok, skipped } = yield* decodeFiles(listing, indices, { ...options, name }, (slot, bytes) => {
    if (!(bytes instanceof Uint8Array)) return
    const base = slot * len
    for (let j = 0; j < len; j++) images[base + j] = byteToUnit[bytes[j]!]!
  })
  const kept = total - skipped.length
  if (kept === 0 && total > 0) {
    return yield* new EmptyDataset({ dataset: name, path: listing.root, reason: `all ${total} images are corrupt or unreadable` })
  }
  const keptIndices = new Int32Array(kept)
  const labels = listing.labels === undefined ? undefined : new Int32Array(kept)
  let j = 0
  for (let slot = 0; slot < total; slot++) {
    if (ok[slot] === 0) continue
    if (j !== slot) images.copyWithin(j * len, slot * len, (slot + 1) * len)
    keptIndices[j] = indices[slot]!
    if (labels !== undefined) labels[j] = listing.labels![indices[slot]!]!
    j++
  }
  const result: DecodedFolder = {
    dataset: makeImageDataset({
      name,
      size: kept,
      height: size,
      width: size,
      channels,
      // a view, not a copy: the tail left by skipped files is a few images
      images: kept === total ? images : images.subarray(0, kept * len),
      ...(labels === undefined ? {} : { labels, numClasses: listing.classNames.length, classNames: listing.classNames })
    }),
    indices: keptIndices,
    skipped
  }
  return result
})
