/**
 * An in-memory image dataset: N images of H x W x C stored NHWC in one Float32Array with values
 * in [0, 1]. Labels are optional because training is self-supervised; they are read only by
 * evaluation (linear probe, kNN) and by bag statistics (purity).
 */
export interface ImageDataset {
  readonly name: string
  /** N, the number of images. */
  readonly size: number
  readonly height: number
  readonly width: number
  readonly channels: number
  /** N*H*W*C values, NHWC, in [0, 1]. */
  readonly images: Float32Array
  /** N class indices in [0, numClasses). */
  readonly labels?: Int32Array
  readonly numClasses?: number
  readonly classNames?: ReadonlyArray<string>
}

/** Values in one image: H*W*C. */
export const imageLength = (ds: ImageDataset): number => ds.height * ds.width * ds.channels

/**
 * Build a dataset, checking that the buffers agree with the stated shape. A mismatch here is a
 * programmer error (the readers check file contents and fail with typed errors before this).
 */
export const makeImageDataset = (fields: ImageDataset): ImageDataset => {
  const { size, height, width, channels, images, labels } = fields
  for (const [k, v] of [
    ["size", size],
    ["height", height],
    ["width", width],
    ["channels", channels]
  ] as const) {
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`ImageDataset ${k} must be a non-negative integer, got ${v}`)
  }
  if (images.length !== size * height * width * channels) {
    throw new RangeError(
      `ImageDataset '${fields.name}': images has ${images.length} values, expected ${size}*${height}*${width}*${channels}`
    )
  }
  if (labels !== undefined && labels.length !== size) {
    throw new RangeError(`ImageDataset '${fields.name}': ${labels.length} labels for ${size} images`)
  }
  return fields
}

/** Image i as a view (no copy) into `ds.images`, H*W*C values, HWC. */
export const imageAt = (ds: ImageDataset, i: number): Float32Array => {
  if (!Number.isInteger(i) || i < 0 || i >= ds.size) {
    throw new RangeError(`image index ${i} out of range [0, ${ds.size}) in '${ds.name}'`)
  }
  const len = imageLength(ds)
  return ds.images.subarray(i * len, (i + 1) * len)
}

/** A new dataset holding copies of the images (and labels) at `indices`, in that order. */
export const subset = (ds: ImageDataset, indices: ArrayLike<number>): ImageDataset => {
  const len = imageLength(ds)
  const images = new Float32Array(indices.length * len)
  const labels = ds.labels === undefined ? undefined : new Int32Array(indices.length)
  for (let j = 0; j < indices.length; j++) {
    const i = indices[j]!
    images.set(imageAt(ds, i), j * len)
    if (labels !== undefined) labels[j] = ds.labels![i]!
  }
  return {
    ...ds,
    size: indices.length,
    images,
    ...(labels === undefined ? {} : { labels })
  }
}
