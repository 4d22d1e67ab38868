import type * as tf from "@tensorflow/tfjs"

/**
 * Argument checks shared by the losses. A wrong rank or shape here is a programmer error
 * (the trainer built the views wrongly), so these throw instead of failing typed.
 */

/** Throw unless `x` is a rank-2 tensor with no empty dimension; returns its [rows, dim]. */
export const expectMatrix = (loss: string, name: string, x: tf.Tensor): readonly [number, number] => {
  if (x.rank !== 2 || x.shape[0]! < 1 || x.shape[1]! < 1) {
    throw new RangeError(`${loss}: '${name}' must be a non-empty [rows, dim] matrix, got shape [${x.shape.join(", ")}]`)
  }
  return [x.shape[0]!, x.shape[1]!]
}

/** Throw unless every tensor in `xs` has the shape [B, D] of the first one. */
export const expectSameShape = (loss: string, xs: Readonly<Record<string, tf.Tensor>>): readonly [number, number] => {
  const entries = Object.entries(xs)
  const [firstName, first] = entries[0]!
  const shape = expectMatrix(loss, firstName, first)
  for (const [name, x] of entries.slice(1)) {
    expectMatrix(loss, name, x)
    if (x.shape[0] !== shape[0] || x.shape[1] !== shape[1]) {
      throw new RangeError(`${loss}: '${name}' has shape [${x.shape.join(", ")}] but '${firstName}' has [${shape.join(", ")}]`)
    }
  }
  return shape
}

/** Throw unless `queue` is a [Q, D] matrix whose width matches the embeddings' D. */
export const expectQueue = (loss: string, name: string, queue: tf.Tensor, dim: number): number => {
  const [q, d] = expectMatrix(loss, name, queue)
  if (d !== dim) throw new RangeError(`${loss}: '${name}' has width ${d} but the embeddings have ${dim}`)
  return q
}

/** Throw unless `value` is a finite number > 0. */
export const expectPositive = (loss: string, name: string, value: number): void => {
  if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`${loss}: '${name}' must be a finite number > 0, got ${value}`)
}

/** Throw unless `value` is a finite number >= 0. */
export const expectNonNegative = (loss: string, name: string, value: number): void => {
  if (!(Number.isFinite(value) && value >= 0)) throw new RangeError(`${loss}: '${name}' must be a finite number >= 0, got ${value}`)
}
