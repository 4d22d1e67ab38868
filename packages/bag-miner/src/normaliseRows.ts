import * as tf from "@tensorflow/tfjs"

/**
 * N x D features (row-major) as a tensor whose rows have unit L2 norm, so that a dot product
 * is the cosine similarity. An all-zero row stays zero (cosine 0 to everything).
 */
export const normaliseRows = (features: Float32Array, dim: number): tf.Tensor2D => {
  checkFeatures(features, dim)
  const n = features.length / dim
  return tf.tidy(() => {
    const x = tf.tensor2d(features, [n, dim])
    return tf.div(x, tf.maximum(tf.norm(x, "euclidean", 1, true), 1e-12)) as tf.Tensor2D
  })
}

/** Throw (programmer error) unless `features` is a whole number of `dim`-wide rows. */
export const checkFeatures = (features: Float32Array, dim: number): void => {
  if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`dim must be a positive integer, got ${dim}`)
  if (features.length % dim !== 0) {
    throw new RangeError(`features hold ${features.length} values, not a multiple of dim ${dim}`)
  }
}
