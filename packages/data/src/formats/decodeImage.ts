import { Effect } from "effect"
import sharp from "sharp"
import { CorruptImage } from "../DatasetError.ts"

/** File extensions read as images (compared lower-case), as torchvision's ImageFolder subset we decode. */
export const imageExtensions: ReadonlyArray<string> = [".jpg", ".jpeg", ".png", ".webp"]

export interface DecodeImageOptions {
  /** Output side S: every image becomes S x S. */
  readonly size: number
  /** 3: RGB; 1: ITU-R 601 luma 0.299 R + 0.587 G + 0.114 B (PIL's `convert("L")`). */
  readonly channels: 1 | 3
  /**
   * "cover" (default): scale the shorter side to S and keep the centred S x S square
   * (torchvision's Resize(S) + CenterCrop(S)); "fill": stretch to S x S, ignoring the aspect ratio.
   */
  readonly fit?: "cover" | "fill"
}

/** Decodes one file into S*S*C bytes, HWC; the seam through which tests count or fake decodes. */
export type ImageDecoder = (path: string, options: DecodeImageOptions) => Effect.Effect<Uint8Array, CorruptImage>

/** sharp's message on one line: libvips repeats its lines ("premature end of JPEG image" x2). */
const errorText = (e: unknown): string => {
  const message = e instanceof Error ? e.message : String(e)
  const lines = message
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
  return [...new Set(lines)].join("; ")
}

/**
 * Read and decode one JPEG / PNG / WebP file with sharp (libvips): resized (bilinear, with
 * antialiasing when shrinking) to `size` x `size`, alpha dropped (as PIL's `convert("RGB")`),
 * colour converted to sRGB, then reduced to luma when `channels` is 1. EXIF orientation is not
 * applied (torchvision's loader does not either). Returns S*S*C bytes, HWC.
 *
 * A file that cannot be read, is not an image, or whose pixel data is corrupt or truncated fails
 * with `CorruptImage` naming it (sharp's `failOn: "error"`: benign decoder warnings pass).
 */
export const decodeImage: ImageDecoder = (path, options) =>
  Effect.tryPromise({
    try: async () => {
      // sharp reads the file itself: reading, decoding and resizing are one job on libuv's
      // thread pool, so they progress while JavaScript is busy (e.g. in a training step).
      const { data, info } = await sharp(path, { failOn: "error" })
        .resize(options.size, options.size, { fit: options.fit ?? "cover", position: "centre", kernel: "linear" })
        .removeAlpha()
        .toColourspace("srgb")
        .raw({ depth: "uchar" })
        .toBuffer({ resolveWithObject: true })
      if (info.width !== options.size || info.height !== options.size || info.channels !== 3) {
        throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}, expected ${options.size}x${options.size}x3`)
      }
      if (options.channels === 3) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      const pixels = options.size * options.size
      const grey = new Uint8Array(pixels)
      for (let p = 0; p < pixels; p++) {
        grey[p] = Math.round(0.299 * data[3 * p]! + 0.587 * data[3 * p + 1]! + 0.114 * data[3 * p + 2]!)
      }
      return grey
    },
    catch: (e) => new CorruptImage({ path, reason: errorText(e) })
  })

let cacheOffUsers = 0
let savedCacheLimits: { memory: number; files: number; items: number } | undefined

const cacheOff = Effect.sync(() => {
  if (cacheOffUsers++ > 0) return
  const { memory, files, items } = sharp.cache()
  savedCacheLimits = { memory: memory.max, files: files.max, items: items.max }
  sharp.cache(false)
})

const cacheRestore = Effect.sync(() => {
  if (--cacheOffUsers > 0 || savedCacheLimits === undefined) return
  sharp.cache(savedCacheLimits)
  savedCacheLimits = undefined
})

/**
 * Run `effect` with libvips' operation cache off, restoring its limits afterwards (counted, so
 * overlapping users are fine). Each file of a dataset is decoded once per pass, so the cache
 * never hits; off, decoding was 1.06x (whole `decodeFolder`) to 1.2x (bare sharp) faster, A/B
 * in one process (packages/data/README.md). The cache is process-wide: it is off only while a
 * folder is being loaded or streamed.
 */
export const withSharpCacheOff = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.acquireUseRelease(
    cacheOff,
    () => effect,
    () => cacheRestore
  )

/** `withSharpCacheOff` for the lifetime of the current scope (a stream's). */
export const sharpCacheOffScoped = Effect.acquireRelease(cacheOff, () => cacheRestore)
