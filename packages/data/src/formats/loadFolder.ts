import { Effect } from "effect"
import { join } from "node:path"
import { InvalidDatasetConfig } from "../DatasetError.ts"
import { decodeFolder, defaultDecodeConcurrency } from "./decodeFolder.ts"
import { withSharpCacheOff } from "./decodeImage.ts"
import type { DatasetSplits } from "../DatasetSplits.ts"
import { loadImageCache, openImageCache } from "../cache/imageCache.ts"
import { ensureImageCache } from "../cache/writeImageCache.ts"
import type { ImageSource } from "../ImageStore.ts"
import { folderName, type ImageFolderListing, limitListing, listImageFolder } from "./listImageFolder.ts"

export interface FolderOptions {
  /** Training images, torchvision's ImageFolder layout: dir/<class>/<image>.{jpg,jpeg,png,webp}. */
  readonly dir: string
  /** Test images in the same layout; its class folders must be among the training classes. */
  readonly testDir?: string
  /** S: every image is resized to S x S. */
  readonly size: number
  /** 3 (default) RGB, or 1 (luma). */
  readonly channels?: 1 | 3
  /** "cover" (default: shorter side to S, centre crop) or "fill" (stretch). */
  readonly fit?: "cover" | "fill"
  /** "skip" (default): log each corrupt file and leave it out; "fail": fail with `CorruptImage`. */
  readonly onCorrupt?: "skip" | "fail"
  /** Keep this many training / test images, spread evenly over the sorted files (every class sampled). */
  readonly limit?: number
  readonly limitTest?: number
  /** Decodes in flight (default 8). */
  readonly concurrency?: number
  /** Dataset name; default the directory's name. */
  readonly name?: string
  /**
   * "folders" (default): labels from the class sub-folders. "none": unlabelled images at any
   * depth below `dir` (and `testDir`); the pipeline then trains and skips evaluation.
   */
  readonly labels?: "folders" | "none"
  /**
   * A directory for decoded-image caches (`cache/imageCache.ts`): each split is decoded once into
   * `<cache>/<split>-<S>x<S>x<C>-<fit>.bingoimg` and later runs read that instead of decoding,
   * as long as the files and decode options are unchanged (otherwise it is rebuilt).
   */
  readonly cache?: string
  /**
   * true (default): the splits are decoded into memory. false: they stay in the cache files
   * (requires `cache`) and every stage reads the images it needs a batch at a time: for folders
   * whose decoded floats (N x S x S x C x 4 bytes) do not fit in memory.
   */
  readonly inMemory?: boolean
}

/** The cache file of one split. */
export const folderCachePath = (cacheDir: string, split: "train" | "test", options: FolderOptions): string =>
  join(cacheDir, `${split}-${options.size}x${options.size}x${options.channels ?? 3}-${options.fit ?? "cover"}.bingoimg`)

const loadSplits = Effect.fn("loadFolder")(function* (options: FolderOptions) {
  if (options.inMemory === false && options.cache === undefined) {
    return yield* new InvalidDatasetConfig({
      dataset: "folder",
      reason: "inMemory: false reads the images from cache files: set cache (a directory) too"
    })
  }
  const name = options.name ?? folderName(options.dir)
  const decode = {
    size: options.size,
    channels: options.channels ?? 3,
    fit: options.fit ?? "cover",
    onCorrupt: options.onCorrupt ?? "skip",
    concurrency: options.concurrency ?? defaultDecodeConcurrency
  } as const
  const load = (listing: ImageFolderListing, split: "train" | "test", splitName: string) =>
    Effect.gen(function* () {
      if (options.cache === undefined) return (yield* decodeFolder(listing, { ...decode, name: splitName })).dataset as ImageSource
      const path = folderCachePath(options.cache, split, options)
      yield* ensureImageCache(listing, { ...decode, name: splitName }, path)
      const source: ImageSource = options.inMemory === false ? yield* openImageCache(path) : yield* loadImageCache(path)
      return { ...source, name: splitName }
    })
  const labels = options.labels ?? "folders"
  const trainListing = limitListing(yield* listImageFolder(options.dir, { name, labels }), options.limit)
  const train = yield* load(trainListing, "train", name)
  if (options.testDir === undefined) {
    const splits: DatasetSplits = { train }
    return splits
  }
  const testName = `${name}/test`
  const testListing = limitListing(
    yield* listImageFolder(options.testDir, {
      name: testName,
      labels,
      ...(labels === "folders" ? { classNames: trainListing.classNames } : {})
    }),
    options.limitTest
  )
  const test = yield* load(testListing, "test", testName)
  const splits: DatasetSplits = { train, test }
  return splits
})

/**
 * An image-folder dataset decoded into memory: labels from the sorted class folder names
 * (`classNames` recorded), every image resized to `size` x `size` x `channels` in [0, 1].
 * Decoding runs with bounded concurrency and logs progress every 10% on long loads. Errors:
 * `DatasetNotFound` (no such directory), `EmptyDataset` (no class folder, no image, or every
 * image corrupt), `DatasetFormatError` (a test class the training set lacks), `CorruptImage`
 * (with `onCorrupt: "fail"`); each names the path.
 */
export const loadFolder = (options: FolderOptions) => withSharpCacheOff(loadSplits(options))
