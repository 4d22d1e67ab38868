import { Rng } from "@bingo/runtime"
import * as tf from "@tensorflow/tfjs"

/** Use the pure-JS cpu backend, without its "use tfjs-node" banner. */
export const useCpu = async (): Promise<void> => {
  await tf.setBackend("cpu")
  ;(tf.backend() as unknown as { firstUse: boolean }).firstUse = false
}

/** N x D standard-normal features from a seed. */
export const randomFeatures = (n: number, dim: number, seed: number): Float32Array => {
  const rng = Rng.fromSeed(seed)
  return Float32Array.from({ length: n * dim }, () => rng.normal())
}

/** Points on the unit circle at the given angles (degrees), each scaled by `scale[i]`. */
export const circle = (degrees: ReadonlyArray<number>, scale: ReadonlyArray<number> = []): Float32Array =>
  Float32Array.from(
    degrees.flatMap((d, i) => {
      const r = (d * Math.PI) / 180
      const s = scale[i] ?? 1
      return [s * Math.cos(r), s * Math.sin(r)]
    })
  )

/**
 * Well-separated blobs: blob b is centred on the b-th basis vector of R^dim, its members are
 * that vector plus N(0, noise^2) per coordinate. Returns features and the blob of each row.
 */
export const blobs = (
  sizes: ReadonlyArray<number>,
  dim: number,
  noise: number,
  seed: number
): { features: Float32Array; labels: Int32Array } => {
  const rng = Rng.fromSeed(seed)
  const n = sizes.reduce((a, b) => a + b, 0)
  const features = new Float32Array(n * dim)
  const labels = new Int32Array(n)
  let row = 0
  sizes.forEach((size, b) => {
    for (let i = 0; i < size; i++, row++) {
      labels[row] = b
      for (let d = 0; d < dim; d++) features[row * dim + d] = (d === b ? 1 : 0) + noise * rng.normal()
    }
  })
  return { features, labels }
}

/** Reference kNN: float64 cosine, sorted by (similarity desc, index asc), self excluded. */
export const naiveKnn = (features: Float32Array, dim: number, k: number): Int32Array => {
  const n = features.length / dim
  const unit = Array.from({ length: n }, (_, i) => {
    const row = Array.from(features.subarray(i * dim, (i + 1) * dim))
    const norm = Math.sqrt(row.reduce((a, x) => a + x * x, 0))
    return row.map((x) => x / norm)
  })
  const out = new Int32Array(n * k)
  for (let i = 0; i < n; i++) {
    const sims = unit.map((u, j) => ({ j, s: u.reduce((a, x, d) => a + x * unit[i]![d]!, 0) })).filter(({ j }) => j !== i)
    sims.sort((a, b) => b.s - a.s || a.j - b.j)
    for (let j = 0; j < k; j++) out[i * k + j] = sims[j]!.j
  }
  return out
}

/** Rows of an n x k Int32Array as arrays, for readable assertions. */
export const rows = (data: Int32Array, k: number): Array<Array<number>> =>
  Array.from({ length: data.length / k }, (_, i) => Array.from(data.subarray(i * k, (i + 1) * k)))
