import { Effect } from "effect"
import { createHash } from "node:crypto"
import { close, openSync, read, statSync } from "node:fs"
import { relative } from "node:path"
import { DatasetFormatError, DatasetNotFound } from "../DatasetError.ts"
import { byteToUnit, type DecodeFolderOptions } from "../formats/decodeFolder.ts"
import { type ImageDataset, makeImageDataset } from "../ImageDataset.ts"
import type { ImageStore } from "../ImageStore.ts"
import type { ImageFolderListing } from "../formats/listImageFolder.ts"

/**
 * The decoded-image cache: an image folder decoded and resized once, kept as bytes, read back
 * whole (`loadImageCache`) or a batch at a time (`openImageCache`). Layout, little-endian:
 *
 *   "BINGOIMG" | pixels: N x H x W x C uint8, HWC, image i at 8 + i*H*W*C | labels: N int32 |
 *   file indices: N int32 (image i is listing.files[fileIndex[i]]) | header: JSON, L bytes |
 *   L: uint32 | "BINGOEND"
 *
 * The header (`ImageCacheHeader`) is written last, so the pixels stream to disk as they are
 * decoded (`writeImageCache.ts`: into `<path>.partial`, renamed into place when complete).
 */
export interface ImageCacheHeader {
  readonly format: typeof cacheFormat
  readonly version: typeof cacheVersion
  readonly name: string
  /** N, images in the cache (the listing's files less the skipped ones). */
  readonly size: number
  readonly height: number
  readonly width: number
  readonly channels: 1 | 3
  readonly fit: "cover" | "fill"
  readonly classNames: ReadonlyArray<string>
  /** The folder decoded. */
  readonly root: string
  /** Files in the listing (decoded or skipped). */
  readonly files: number
  /** `folderFingerprint` of the listing and decode options the cache was built from. */
  readonly fingerprint: string
  /** Files left out as corrupt when the cache was built. */
  readonly skipped: ReadonlyArray<{ readonly path: string; readonly reason: string }>
  /** False for an unlabelled folder (`labels: "none"`): the labels section holds zeros and is not read. Absent: true. */
  readonly labelled?: boolean
  /**
   * Every listed file (decoded or skipped), in listing order, with its stamp: what lets a
   * rebuild after the folder changed reuse the rows of the files that did not change.
   */
  readonly entries?: FolderStamps
}

/** Each listed file's path relative to the root and its stamp, `<size>:<mtimeMs>` (`missing` if it is gone). */
export interface FolderStamps {
  readonly paths: ReadonlyArray<string>
  readonly stamps: ReadonlyArray<string>
}

export const cacheFormat = "bingo-image-cache"
export const cacheVersion = 1
/** The first and last 8 bytes of a cache file. */
export const cacheHead = new TextEncoder().encode("BINGOIMG")
export const cacheTail = new TextEncoder().encode("BINGOEND")

export interface ImageCacheOptions extends DecodeFolderOptions {
  readonly fit?: "cover" | "fill"
}

export const fitOf = (options: { readonly fit?: "cover" | "fill" }) => options.fit ?? "cover"

/**
 * What the cache depends on: the decode options, the class names, and every file's path (relative
 * to the root), size and modification time. Any change (a file added, removed, replaced or
 * touched, another size or fit) gives another fingerprint, and the cache is rebuilt.
 */
export const folderFingerprint = (listing: ImageFolderListing, options: ImageCacheOptions): Effect.Effect<string> =>
  Effect.sync(() => fingerprintOf(listing, options, folderStamps(listing)))

/** Stat every listed file (one `statSync` each). */
export const folderStamps = (listing: ImageFolderListing): FolderStamps => {
  const stamps = listing.files.map((file) => {
    try {
      const s = statSync(file)
      return `${s.size}:${s.mtimeMs}`
    } catch {
      return "missing" // gone since it was listed: the decode will report it
    }
  })
  return { paths: listing.files.map((file) => relative(listing.root, file)), stamps }
}

/** `folderFingerprint` from stamps already taken. */
export const fingerprintOf = (listing: ImageFolderListing, options: ImageCacheOptions, stamps: FolderStamps): string => {
  const hash = createHash("sha256")
  hash.update(
    JSON.stringify({
      version: cacheVersion,
      size: options.size,
      channels: options.channels,
      fit: fitOf(options),
      classNames: listing.classNames
    })
  )
  stamps.paths.forEach((path, i) => hash.update(`\n${path}\0${listing.labels?.[i] ?? "unlabelled"}\0${stamps.stamps[i]}`))
  return hash.digest("hex")
}

/** Where the parts of a cache file start. */
interface CacheLayout {
  readonly header: ImageCacheHeader
  readonly rowBytes: number
  readonly labelsOffset: number
}

const ioError = (path: string, e: unknown) =>
  (e as { code?: string }).code === "ENOENT"
    ? new DatasetNotFound({ path, reason: "no such cache file" })
    : new DatasetFormatError({ path, reason: `cannot read: ${(e as { code?: string }).code ?? String(e)}` })

/**
 * Open `path`, run `use` with its file descriptor, close it (also on failure). The open is
 * synchronous (microseconds) so that the reads `use` issues reach libuv's thread pool at once:
 * a gather started just before a training step blocks the thread is read during the step, not
 * after it (an asynchronous open's callback would wait for the step to end).
 */
const withFd = async <A>(path: string, use: (fd: number) => Promise<A>): Promise<A> => {
  const fd = openSync(path, "r")
  try {
    return await use(fd)
  } finally {
    close(fd, () => undefined)
  }
}

/** Read exactly `length` bytes at `position` into `into` at `offset`; a short read is an error. */
export const readExactly = (fd: number, into: Uint8Array, offset: number, length: number, position: number): Promise<void> =>
  new Promise((resolve, reject) =>
    read(fd, into, offset, length, position, (e, n) => {
      if (e !== null) reject(e)
      else if (n !== length)
        reject(Object.assign(new Error(`short read: ${n} of ${length} bytes at offset ${position}`), { code: "ESHORT" }))
      else resolve()
    })
  )

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i])

/** Read and check a cache file's header: magic numbers, JSON, fields, and that the file has exactly the bytes they imply. */
const readLayout = (path: string): Effect.Effect<CacheLayout, DatasetNotFound | DatasetFormatError> =>
  Effect.gen(function* () {
    const bad = (reason: string) => new DatasetFormatError({ path, reason })
    const fileBytes = yield* Effect.try({ try: () => statSync(path).size, catch: (e) => ioError(path, e) })
    const minimum = cacheHead.length + 4 + cacheTail.length
    if (fileBytes < minimum) return yield* bad(`${fileBytes} bytes, too short for an image cache (at least ${minimum})`)
    const ends = yield* Effect.tryPromise({
      try: () =>
        withFd(path, async (fd) => {
          const head = new Uint8Array(cacheHead.length)
          const tail = new Uint8Array(4 + cacheTail.length)
          await readExactly(fd, head, 0, head.length, 0)
          await readExactly(fd, tail, 0, tail.length, fileBytes - tail.length)
          return { head, tail }
        }),
      catch: (e) => ioError(path, e)
    })
    if (!same(ends.head, cacheHead)) return yield* bad(`not an image cache (the first 8 bytes are not "BINGOIMG")`)
    if (!same(ends.tail.subarray(4), cacheTail)) return yield* bad(`truncated or damaged: the file does not end with "BINGOEND"`)
    const jsonBytes = new DataView(ends.tail.buffer).getUint32(0, true)
    const jsonOffset = fileBytes - ends.tail.length - jsonBytes
    if (jsonOffset < cacheHead.length) return yield* bad(`header length ${jsonBytes} exceeds the file (${fileBytes} bytes)`)
    const json = new Uint8Array(jsonBytes)
    yield* Effect.tryPromise({
      try: () => withFd(path, (fd) => readExactly(fd, json, 0, jsonBytes, jsonOffset)),
      catch: (e) => ioError(path, e)
    })
    let header: ImageCacheHeader
    try {
      header = JSON.parse(new TextDecoder().decode(json)) as ImageCacheHeader
    } catch (e) {
      return yield* bad(`header is not JSON (${(e as Error).message})`)
    }
    if (header.format !== cacheFormat)
      return yield* bad(`header field 'format' is ${JSON.stringify(header.format)}, expected "${cacheFormat}"`)
    if (header.version !== cacheVersion)
      return yield* bad(`header field 'version' is ${JSON.stringify(header.version)}, this bingo reads version ${cacheVersion}`)
    for (const field of ["size", "height", "width", "channels", "files"] as const) {
      const v = header[field]
      if (!Number.isInteger(v) || v < 0)
        return yield* bad(`header field '${field}' must be a non-negative integer, got ${JSON.stringify(v)}`)
    }
    if (header.channels !== 1 && header.channels !== 3) return yield* bad(`header field 'channels' must be 1 or 3, got ${header.channels}`)
    if (!Array.isArray(header.classNames)) return yield* bad(`header field 'classNames' must be an array`)
    if (!Array.isArray(header.skipped)) return yield* bad(`header field 'skipped' must be an array`)
    const rowBytes = header.height * header.width * header.channels
    const labelsOffset = cacheHead.length + header.size * rowBytes
    const expected = labelsOffset + 8 * header.size + jsonBytes + ends.tail.length
    if (expected !== fileBytes) {
      return yield* bad(
        `${fileBytes} bytes, but its header (${header.size} images of ${header.height}x${header.width}x${header.channels}) implies ${expected}`
      )
    }
    return { header, rowBytes, labelsOffset }
  })

/** The labels of a cache, checked against the header's class count; undefined for an unlabelled cache. */
const readLabels = (path: string, layout: CacheLayout) =>
  Effect.gen(function* () {
    if (layout.header.labelled === false) return undefined
    const labels = yield* readInt32s(path, layout.labelsOffset, layout.header.size)
    const classes = layout.header.classNames.length
    const bad = labels.findIndex((l) => l < 0 || l >= classes)
    if (bad >= 0) {
      return yield* new DatasetFormatError({
        path,
        reason: `label ${labels[bad]} of image ${bad} is outside the ${classes} classes of the header`
      })
    }
    return labels
  })

/** `n` little-endian int32 values of a cache file at byte `offset` (its labels or file-indices section). */
const readInt32s = (path: string, offset: number, n: number) =>
  Effect.gen(function* () {
    const bytes = new Uint8Array(4 * n)
    yield* Effect.tryPromise({
      try: () => withFd(path, (fd) => readExactly(fd, bytes, 0, bytes.length, offset)),
      catch: (e) => ioError(path, e)
    })
    const view = new DataView(bytes.buffer)
    return Int32Array.from({ length: n }, (_, i) => view.getInt32(4 * i, true))
  })

/**
 * A cache's header and, for each of its rows, the index in its listing of the file the row came
 * from (the file-indices section): what a rebuild needs to reuse rows.
 */
export const readImageCacheIndex = (path: string) =>
  Effect.gen(function* () {
    const layout = yield* readLayout(path)
    const n = layout.header.size
    const fileIndices = yield* readInt32s(path, layout.labelsOffset + 4 * n, n)
    return { header: layout.header, rowBytes: layout.rowBytes, fileIndices }
  })

/** The dataset fields of `size` images of a cache: name, shape and (when labelled) labels and classes. */
const datasetFields = (header: ImageCacheHeader, size: number, labels: Int32Array | undefined) => ({
  name: header.name,
  size,
  height: header.height,
  width: header.width,
  channels: header.channels,
  ...(labels === undefined ? {} : { labels, numClasses: header.classNames.length, classNames: header.classNames })
})

/** A store reading its pixels from a cache file; `header` is the cache's. */
export interface ImageCacheStore extends ImageStore {
  readonly header: ImageCacheHeader
}

/** Just the header of a cache file (checked as by `openImageCache`). */
export const readImageCacheHeader = (path: string) => Effect.map(readLayout(path), (l) => l.header)

/**
 * A store over a cache file: header and labels are read now (and checked: magic numbers, field
 * types, labels within the classes, the file exactly as long as the header implies); pixels are
 * read by `gather`, one positioned read per image, all issued at once to libuv's thread pool and
 * converted to [0, 1] floats as `decodeFolder` would. The file is opened per `gather`, so the
 * store holds no descriptor and needs no closing.
 */
export const openImageCache = Effect.fn("openImageCache")(function* (path: string) {
  const layout = yield* readLayout(path)
  const { header, rowBytes } = layout
  const labels = yield* readLabels(path, layout)
  const gather = (indices: ArrayLike<number>) =>
    Effect.gen(function* () {
      const count = indices.length
      for (let j = 0; j < count; j++) {
        const i = indices[j]!
        if (!Number.isInteger(i) || i < 0 || i >= header.size) {
          throw new RangeError(`image index ${i} out of range [0, ${header.size}) in cache ${path}`)
        }
      }
      const bytes = new Uint8Array(count * rowBytes)
      yield* Effect.tryPromise({
        try: () =>
          withFd(path, async (fd) => {
            const reads: Array<Promise<void>> = []
            for (let j = 0; j < count; j++)
              reads.push(readExactly(fd, bytes, j * rowBytes, rowBytes, cacheHead.length + indices[j]! * rowBytes))
            await Promise.all(reads)
          }),
        catch: (e) => ioError(path, e)
      })
      const images = new Float32Array(bytes.length)
      for (let k = 0; k < bytes.length; k++) images[k] = byteToUnit[bytes[k]!]!
      return makeImageDataset({
        ...datasetFields(
          header,
          count,
          labels === undefined ? undefined : Int32Array.from({ length: count }, (_, j) => labels[indices[j]!]!)
        ),
        images
      })
    })
  const store: ImageCacheStore = {
    ...datasetFields(header, header.size, labels),
    location: path,
    header,
    gather
  }
  return store
})

/** The whole cache as an in-memory dataset (pixels read sequentially in 16 MiB pieces). */
export const loadImageCache = Effect.fn("loadImageCache")(function* (path: string) {
  const layout = yield* readLayout(path)
  const { header, rowBytes } = layout
  const labels = yield* readLabels(path, layout)
  const total = header.size * rowBytes
  const images = new Float32Array(total)
  const piece = new Uint8Array(Math.min(total, 16 << 20))
  yield* Effect.tryPromise({
    try: () =>
      withFd(path, async (fd) => {
        for (let done = 0; done < total; done += piece.length) {
          const n = Math.min(piece.length, total - done)
          await readExactly(fd, piece, 0, n, cacheHead.length + done)
          for (let k = 0; k < n; k++) images[done + k] = byteToUnit[piece[k]!]!
        }
      }),
    catch: (e) => ioError(path, e)
  })
  const dataset: ImageDataset = makeImageDataset({ ...datasetFields(header, header.size, labels), images })
  return dataset
})
