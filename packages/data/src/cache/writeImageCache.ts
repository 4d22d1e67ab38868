import { atomicWrite, isProcessRunning } from "@bingo/runtime"
import { Effect } from "effect"
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, truncateSync, writeSync } from "node:fs"
import { dirname } from "node:path"
import { CacheWriteError, CorruptImage, EmptyDataset } from "../DatasetError.ts"
import { decodeFiles } from "../formats/decodeFolder.ts"
import { decodeImage, type ImageDecoder } from "../formats/decodeImage.ts"
import {
  cacheFormat,
  cacheHead,
  cacheTail,
  cacheVersion,
  fingerprintOf,
  fitOf,
  folderStamps,
  type FolderStamps,
  type ImageCacheHeader,
  type ImageCacheOptions,
  readExactly,
  readImageCacheHeader,
  readImageCacheIndex
} from "./imageCache.ts"
import { folderName, type ImageFolderListing } from "../formats/listImageFolder.ts"

/**
 * How far an interrupted build got, saved next to its partial file (`<path>.partial.json`):
 * listing entries [0, nextSlot) are done, written (`rows` of them, in order) or skipped.
 */
interface BuildProgress {
  readonly format: "bingo-image-cache-build"
  readonly fingerprint: string
  /** The process writing the partial file. */
  readonly pid: number
  readonly nextSlot: number
  readonly rows: number
  readonly skipped: ReadonlyArray<{ readonly slot: number; readonly path: string; readonly reason: string }>
}

/** The files of a build in progress: the pixels so far, and how far they go. */
export const partialCachePaths = (path: string) => ({ pixels: `${path}.partial`, progress: `${path}.partial.json` })

export interface WriteImageCacheOptions {
  /** Save the build's progress at most this often (default 2 s; 0: after every run of rows written). */
  readonly progressSeconds?: number
  /** `folderStamps(listing)` when the caller has them (they stat every file). */
  readonly stamps?: FolderStamps
  /**
   * An older cache of the same folder (usually the file being replaced): the rows of files whose
   * path, size and modification time are unchanged are copied from it instead of decoded, when
   * it was built with the same size, channels and fit. Unreadable: ignored (everything decoded).
   */
  readonly reuse?: string
}

const writeBufferBytes = 1 << 20
/** A partial build whose progress file has not changed for this long has no live writer. */
const liveBuilderSilenceMs = 60_000

const modifiedAt = (path: string): number => {
  try {
    return statSync(path).mtimeMs
  } catch {
    return 0
  }
}

const readProgress = (path: string): BuildProgress | undefined => {
  try {
    const value = JSON.parse(readFileSync(path, "utf8")) as BuildProgress
    return value.format === "bingo-image-cache-build" ? value : undefined
  } catch {
    return undefined
  }
}

const fileSize = (path: string): number => {
  try {
    return statSync(path).size
  } catch {
    return -1
  }
}

const int32s = (values: ArrayLike<number>): Uint8Array => {
  const out = new Uint8Array(4 * values.length)
  const view = new DataView(out.buffer)
  for (let i = 0; i < values.length; i++) view.setInt32(4 * i, values[i]!, true)
  return out
}

/**
 * Decode the listing (all of it) once into a cache file at `path`. Rows stream in listing order
 * into `<path>.partial`; every couple of seconds the file is flushed to disk and the progress
 * saved (atomically) to `<path>.partial.json`; when every file is done the labels, file indices
 * and header are appended and the partial file is renamed to `path`. A build that stops (killed,
 * interrupted, a write error, a corrupt file under `onCorrupt: "fail"`) leaves its partial files,
 * and the next build of the same listing and options resumes from the saved progress instead of
 * decoding everything again (a changed folder or options start afresh). A partial file that a
 * live process is still writing is `CacheWriteError`. Corrupt files follow `onCorrupt` ("skip":
 * named in a warning and in the header's `skipped`; "fail": the build fails with `CorruptImage`).
 */
export const writeImageCache = Effect.fn("writeImageCache")(function* (
  listing: ImageFolderListing,
  options: ImageCacheOptions,
  path: string,
  build: WriteImageCacheOptions = {}
) {
  const name = options.name ?? folderName(listing.root)
  const stamps = build.stamps ?? folderStamps(listing)
  const fingerprint = fingerprintOf(listing, options, stamps)
  const total = listing.files.length
  const rowBytes = options.size * options.size * options.channels
  const partial = partialCachePaths(path)
  const writeError = (e: unknown) => new CacheWriteError({ path, reason: e instanceof Error ? e.message : String(e) })

  const previous = readProgress(partial.progress)
  // a live builder saves its progress every few seconds: one silent for a minute is gone (its
  // pid may have been reused by an unrelated process)
  const silentMs = Date.now() - modifiedAt(partial.progress)
  if (previous !== undefined && previous.pid !== process.pid && isProcessRunning(previous.pid) && silentMs < liveBuilderSilenceMs) {
    return yield* new CacheWriteError({
      path,
      reason:
        `process ${previous.pid} is building it (${partial.pixels}, progress saved ${(silentMs / 1000).toFixed(0)} s ago); ` +
        `wait for it, or stop it and run again to resume`
    })
  }
  const resume =
    previous !== undefined &&
    previous.fingerprint === fingerprint &&
    previous.rows === previous.nextSlot - previous.skipped.length &&
    fileSize(partial.pixels) >= cacheHead.length + previous.rows * rowBytes
  let nextSlot = resume ? previous.nextSlot : 0
  let rows = resume ? previous.rows : 0
  const skipped: Array<BuildProgress["skipped"][number]> = resume ? [...previous.skipped] : []
  const start = nextSlot
  let position = cacheHead.length + rows * rowBytes

  const fd = yield* Effect.try({
    try: () => {
      mkdirSync(dirname(path), { recursive: true })
      if (resume) {
        // rows written after the last saved progress are dropped and decoded again
        truncateSync(partial.pixels, position)
        return openSync(partial.pixels, "r+")
      }
      const f = openSync(partial.pixels, "w")
      writeSync(f, cacheHead, 0, cacheHead.length, 0)
      return f
    },
    catch: writeError
  })
  let open = true
  const closeFd = () => {
    if (open) closeSync(fd)
    open = false
  }
  if (resume) yield* Effect.logInfo(`image cache ${path}: resuming an interrupted build at image ${start} of ${total}`)

  const saveProgress = () => {
    fsyncSync(fd)
    const progress: BuildProgress = { format: "bingo-image-cache-build", fingerprint, pid: process.pid, nextSlot, rows, skipped }
    atomicWrite(partial.progress, JSON.stringify(progress))
  }

  const write = Effect.gen(function* () {
    yield* Effect.try({ try: saveProgress, catch: writeError })
    const buffer = new Uint8Array(Math.max(writeBufferBytes, rowBytes))
    let used = 0
    let failed: unknown
    /** Write all of `bytes` at `position` and move it past them. */
    const writeAtEnd = (bytes: Uint8Array) => {
      let off = 0
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off, position + off)
      position += bytes.length
    }
    const flush = () => {
      writeAtEnd(buffer.subarray(0, used))
      used = 0
    }
    const progressMs = 1000 * (build.progressSeconds ?? 2)
    let lastSave = performance.now()
    // decodes complete out of order: hold each until every earlier entry is written or skipped
    const held = new Map<number, Uint8Array | CorruptImage>()
    const writeReady = () => {
      const before = nextSlot
      while (held.has(nextSlot)) {
        const image = held.get(nextSlot)!
        held.delete(nextSlot)
        if (image instanceof Uint8Array) {
          if (used + rowBytes > buffer.length) flush()
          buffer.set(image, used)
          used += rowBytes
          rows++
        } else {
          skipped.push({ slot: nextSlot, path: image.path, reason: image.reason })
        }
        nextSlot++
      }
      if (nextSlot > before && performance.now() - lastSave >= progressMs) {
        flush()
        saveProgress()
        lastSave = performance.now()
      }
    }
    const indices = Int32Array.from({ length: total - start }, (_, i) => start + i)
    const reused = build.reuse === undefined ? undefined : yield* reusableRows(build.reuse, listing, options, stamps, indices)
    if (reused !== undefined) {
      yield* Effect.logInfo(
        `image cache ${path}: ${reused.count} of ${indices.length} images unchanged since ${build.reuse} was built, copied from it; decoding ${indices.length - reused.count}`
      )
    }
    const decoder = reused?.decoder(options.decoder ?? decodeImage)
    const closeReused = Effect.sync(() => reused?.close())
    yield* decodeFiles(listing, indices, { ...options, name, ...(decoder === undefined ? {} : { decoder }) }, (slot, image) => {
      if (failed !== undefined) return
      held.set(start + slot, image)
      try {
        writeReady()
      } catch (e) {
        failed = e
      }
    }).pipe(Effect.ensuring(closeReused))
    if (failed !== undefined) return yield* writeError(failed)
    if (rows === 0) {
      return yield* new EmptyDataset({ dataset: name, path: listing.root, reason: `all ${total} images are corrupt or unreadable` })
    }
    const skippedSlots = new Set(skipped.map((s) => s.slot))
    const fileIndices = new Int32Array(rows)
    const labels = new Int32Array(rows)
    for (let slot = 0, row = 0; slot < total; slot++) {
      if (skippedSlots.has(slot)) continue
      fileIndices[row] = slot
      labels[row] = listing.labels?.[slot] ?? 0
      row++
    }
    const header: ImageCacheHeader = {
      format: cacheFormat,
      version: cacheVersion,
      name,
      size: rows,
      height: options.size,
      width: options.size,
      channels: options.channels,
      fit: fitOf(options),
      classNames: listing.classNames,
      root: listing.root,
      files: total,
      fingerprint,
      skipped: skipped.map((s) => ({ path: s.path, reason: s.reason })),
      labelled: listing.labels !== undefined,
      entries: stamps
    }
    const json = new TextEncoder().encode(JSON.stringify(header))
    const length = new Uint8Array(4)
    new DataView(length.buffer).setUint32(0, json.length, true)
    yield* Effect.try({
      try: () => {
        flush()
        for (const part of [int32s(labels), int32s(fileIndices), json, length, cacheTail]) writeAtEnd(part)
        fsyncSync(fd)
        closeFd()
        renameSync(partial.pixels, path)
        rmSync(partial.progress, { force: true })
      },
      catch: writeError
    })
    return header
  })
  return yield* write.pipe(Effect.ensuring(Effect.sync(closeFd)))
})

/**
 * The rows of an older cache that can stand for files of `listing` (same relative path, size and
 * modification time; same size, channels and fit), as a decoder that copies those rows and
 * decodes the rest with `decode`. Undefined when the older cache cannot help.
 */
const reusableRows = (
  oldPath: string,
  listing: ImageFolderListing,
  options: ImageCacheOptions,
  stamps: FolderStamps,
  indices: Int32Array
) =>
  Effect.gen(function* () {
    const old = yield* readImageCacheIndex(oldPath).pipe(Effect.option)
    if (old._tag === "None") return undefined
    const { header, rowBytes, fileIndices } = old.value
    const entries = header.entries
    if (entries === undefined || header.height !== options.size || header.channels !== options.channels || header.fit !== fitOf(options))
      return undefined
    const oldRow = new Map<string, number>()
    fileIndices.forEach((slot, row) => {
      const stamp = entries.stamps[slot]
      if (stamp !== undefined && stamp !== "missing") oldRow.set(`${entries.paths[slot]}\0${stamp}`, row)
    })
    const rowOf = new Map<string, number>()
    let count = 0
    for (const slot of indices) {
      const row = oldRow.get(`${stamps.paths[slot]}\0${stamps.stamps[slot]}`)
      if (row === undefined) continue
      rowOf.set(listing.files[slot]!, row)
      count++
    }
    if (count === 0) return undefined
    const fd = yield* Effect.try(() => openSync(oldPath, "r")).pipe(Effect.option)
    if (fd._tag === "None") return undefined
    const decoder =
      (decode: ImageDecoder): ImageDecoder =>
      (file, o) => {
        const row = rowOf.get(file)
        if (row === undefined) return decode(file, o)
        const bytes = new Uint8Array(rowBytes)
        return Effect.tryPromise(() => readExactly(fd.value, bytes, 0, rowBytes, cacheHead.length + row * rowBytes)).pipe(
          Effect.as(bytes),
          Effect.catch(() => decode(file, o)) // unreadable after all: decode instead
        )
      }
    return { count, decoder, close: () => closeSync(fd.value) }
  })

/**
 * The cache of `listing` at `path`, built unless one is there for the same files and decode
 * options (its fingerprint matches): the expensive decode runs once per folder, not per run. A
 * cache that is stale (files changed, other options) or unreadable is rebuilt, with a log line
 * saying why; an interrupted build is resumed. A cache built with skipped files under
 * `onCorrupt: "fail"` fails with the first of them, as decoding would.
 */
export const ensureImageCache = Effect.fn("ensureImageCache")(function* (
  listing: ImageFolderListing,
  options: ImageCacheOptions,
  path: string
) {
  const existing = yield* readImageCacheHeader(path).pipe(Effect.result)
  const stamps = folderStamps(listing)
  const fingerprint = fingerprintOf(listing, options, stamps)
  let header: ImageCacheHeader
  if (existing._tag === "Success" && existing.success.fingerprint === fingerprint) {
    header = existing.success
    yield* Effect.logInfo(
      `image cache ${path}: up to date (${header.size} images of ${header.height}x${header.width}x${header.channels}), not decoding`
    )
    if (header.skipped.length > 0 && options.onCorrupt !== "fail") {
      yield* Effect.logWarning(
        `image cache ${path}: ${header.skipped.length} of ${header.files} files were skipped as corrupt when it was built, first ${header.skipped[0]!.path}`
      )
    }
  } else {
    const why =
      existing._tag === "Success"
        ? "the folder or the decode options changed since it was built"
        : existing.failure._tag === "DatasetNotFound"
          ? "none yet"
          : `unreadable (${existing.failure.reason})`
    yield* Effect.logInfo(`image cache ${path}: ${why}; decoding ${listing.files.length} images from ${listing.root} once`)
    header = yield* writeImageCache(listing, options, path, { stamps, ...(existing._tag === "Success" ? { reuse: path } : {}) })
  }
  if (header.skipped.length > 0 && options.onCorrupt === "fail") return yield* new CorruptImage(header.skipped[0]!)
  return header
})
