import { Effect } from "effect"
import { basename } from "node:path"
import { decodeFolder, defaultDecodeConcurrency } from "./decodeFolder.ts"
import { withSharpCacheOff } from "./decodeImage.ts"
import type { DatasetSplits } from "./ImageDataset.ts"
import { limitListing, listImageFolder } from "./listImageFolder.ts"

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
}

const loadSplits = Effect.fn("loadFolder")(function*(options: FolderOptions) {
  const name = options.name ?? basename(options.dir)
  const decode = {
    size: options.size,
    channels: options.channels ?? 3,
    fit: options.fit ?? "cover",
    onCorrupt: options.onCorrupt ?? "skip",
    concurrency: options.concurrency ?? defaultDecodeConcurrency
  } as const
  const trainListing = limitListing(yield* listImageFolder(options.dir, { name }), options.limit)
  const train = yield* decodeFolder(trainListing, { ...decode, name })
  if (options.testDir === undefined) {
    const splits: DatasetSplits = { train: train.dataset }
    return splits
  }
  const testName = `${name}/test`
  const testListing = limitListing(
    yield* listImageFolder(options.testDir, { name: testName, classNames: trainListing.classNames }),
    options.limitTest
  )
  const test = yield* decodeFolder(testListing, { ...decode, name: testName })
  const splits: DatasetSplits = { train: train.dataset, test: test.dataset }
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
