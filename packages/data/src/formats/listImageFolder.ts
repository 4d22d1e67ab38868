import { Effect } from "effect"
import { readdir } from "node:fs/promises"
import { basename, dirname, extname, join, resolve } from "node:path"
import { DatasetFormatError, DatasetNotFound, EmptyDataset } from "../DatasetError.ts"
import { imageExtensions } from "./decodeImage.ts"
import { requireDirectory } from "../internal/fileIo.ts"

/** The image files of a folder in torchvision's ImageFolder layout, and their labels. */
export interface ImageFolderListing {
  /** The folder listed. */
  readonly root: string
  /** One per class folder, sorted; label l is `classNames[l]`. */
  readonly classNames: ReadonlyArray<string>
  /** Absolute or root-relative paths (root joined), sorted by class, then by path. */
  readonly files: ReadonlyArray<string>
  /** files.length labels; absent for an unlabelled listing (`labels: "none"`, `classNames` empty). */
  readonly labels?: Int32Array
}

export interface ListImageFolderOptions {
  /**
   * Use these classes (e.g. the training split's) instead of the folder's own: a class folder
   * not among them is a `DatasetFormatError`; a class among them without a folder has no image.
   */
  readonly classNames?: ReadonlyArray<string>
  /** Dataset name used in errors; default the folder's name. */
  readonly name?: string
  /**
   * "folders" (default): labels from the class sub-folders. "none": unlabelled, every image at
   * any depth below `root` (sub-folders only organise the files), for self-supervised data.
   */
  readonly labels?: "folders" | "none"
}

/** Folder names that name a split rather than a dataset (compared case-insensitively). */
export const splitFolderNames: ReadonlyArray<string> = ["train", "training", "test", "testing", "val", "valid", "validation"]

/**
 * The default name of a dataset read from a folder: the folder's own name (`data/pets/` -> `pets`),
 * or its parent's when the folder's name is a split's (`data/pets/train/` -> `pets`, so a run on
 * `fashion/train` with `testDir: fashion/test` is reported as "fashion", not "train"). A relative
 * folder is resolved against the working directory to find the parent.
 */
export const folderName = (root: string): string => {
  const own = basename(root) || root
  if (!splitFolderNames.includes(own.toLowerCase())) return own
  const parent = basename(dirname(resolve(root)))
  return parent === "" ? own : parent
}

const byCodePoint = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

const readDir = (path: string) =>
  Effect.tryPromise({
    try: () => readdir(path, { withFileTypes: true }),
    catch: (e) => new DatasetNotFound({ path, reason: (e as { code?: string }).code ?? String(e) })
  })

const readDirRecursive = (path: string) =>
  Effect.tryPromise({
    try: () => readdir(path, { recursive: true }),
    catch: (e) => new DatasetNotFound({ path, reason: (e as { code?: string }).code ?? String(e) })
  })

/**
 * List `root/<class>/**\/*.{jpg,jpeg,png,webp}` (extensions in any case): classes are the
 * sub-folders of `root` sorted by name (hidden ones, starting with ".", skipped), files are
 * found at any depth below their class folder, other files are ignored. Fails with
 * `DatasetNotFound` when `root` is not a directory and with `EmptyDataset` (naming `root`) when
 * it holds no class folder or no image.
 */
export const listImageFolder = Effect.fn("listImageFolder")(function* (root: string, options: ListImageFolderOptions = {}) {
  const name = options.name ?? folderName(root)
  yield* requireDirectory(root)
  if (options.labels === "none") {
    const files = (yield* readDirRecursive(root))
      .filter((f) => imageExtensions.includes(extname(f).toLowerCase()) && !f.split(/[\\/]/).some((part) => part.startsWith(".")))
      .sort(byCodePoint)
      .map((f) => join(root, f))
    if (files.length === 0) {
      return yield* new EmptyDataset({ dataset: name, path: root, reason: `no ${imageExtensions.join("/")} file at any depth` })
    }
    const unlabelled: ImageFolderListing = { root, classNames: [], files }
    return unlabelled
  }
  const found = (yield* readDir(root))
    .filter((e) => e.isDirectory() && !e.name.startsWith("."))
    .map((e) => e.name)
    .sort(byCodePoint)
  if (found.length === 0 && options.classNames === undefined) {
    return yield* new EmptyDataset({ dataset: name, path: root, reason: "no class folder (expected root/<class>/<image>)" })
  }
  const classNames = options.classNames ?? found
  const classIndex = new Map(classNames.map((c, i) => [c, i]))
  for (const c of found) {
    if (!classIndex.has(c)) {
      return yield* new DatasetFormatError({
        path: join(root, c),
        reason: `class folder '${c}' is not one of the ${classNames.length} training classes`
      })
    }
  }
  const files: Array<string> = []
  const labels: Array<number> = []
  for (const c of found) {
    const entries = (yield* readDirRecursive(join(root, c)))
      .filter((f) => imageExtensions.includes(extname(f).toLowerCase()) && !basename(f).startsWith("."))
      .sort(byCodePoint)
    for (const f of entries) {
      files.push(join(root, c, f))
      labels.push(classIndex.get(c)!)
    }
    if (entries.length === 0) yield* Effect.logWarning(`image folder ${name}: class folder ${join(root, c)} holds no image`)
  }
  if (files.length === 0) {
    return yield* new EmptyDataset({
      dataset: name,
      path: root,
      reason: `no ${imageExtensions.join("/")} file in ${found.length} class folder(s)`
    })
  }
  const listing: ImageFolderListing = { root, classNames, files, labels: Int32Array.from(labels) }
  return listing
})

/**
 * `count` files spread evenly over the listing (indices floor(i * n / count)), so a limited
 * dataset still samples every class; the whole listing when count >= n.
 */
export const limitListing = (listing: ImageFolderListing, count: number | undefined): ImageFolderListing => {
  const n = listing.files.length
  if (count === undefined || count >= n) return listing
  const picks = Array.from({ length: count }, (_, i) => Math.floor((i * n) / count))
  return {
    ...listing,
    files: picks.map((i) => listing.files[i]!),
    ...(listing.labels === undefined ? {} : { labels: Int32Array.from(picks, (i) => listing.labels![i]!) })
  }
}
