import type { ImageSource } from "./ImageStore.ts"

/**
 * A dataset's splits. Loaders return in-memory datasets, except the `folder` loader with
 * `inMemory: false`, whose splits are stores reading a cache file on demand (`ImageStore`).
 */
export interface DatasetSplits<S extends ImageSource = ImageSource> {
  readonly train: S
  readonly test?: S
}
