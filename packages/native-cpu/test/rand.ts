import * as tf from "@tensorflow/tfjs"

/** Deterministic pseudo-random values in [-1, 1) (shifted by `seed`, so two seeds differ everywhere). */
export const rand = (shape: Array<number>, seed: number): tf.Tensor => {
  let s = (seed * 2654435761) >>> 0
  const n = shape.reduce((a, b) => a * b, 1)
  const v = new Float32Array(n)
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0
    v[i] = s / 2 ** 31 - 1
  }
  return tf.tensor(v, shape)
}
