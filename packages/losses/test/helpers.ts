/**
 * Shared test helpers: float64 reference arithmetic, random unit embeddings, a central finite
 * difference gradient and a tensor-leak check. Not a test file (vitest runs *.test.ts only).
 */
import { Rng } from "@bingo/runtime"
import * as tf from "@tensorflow/tfjs"
import { beforeAll, expect } from "vitest"

export type Matrix = Array<Array<number>>

/** Select the cpu backend once per file and silence its first-use banner. */
export const useCpuBackend = (): void => {
  beforeAll(async () => {
    await tf.setBackend("cpu")
    ;(tf.backend() as unknown as { firstUse: boolean }).firstUse = false
  })
}

/** `rows` random vectors of unit length in `dim` dimensions, rounded to float32 so that the
 * float64 reference sees exactly the numbers the tensor holds. */
export const randomUnitRows = (rng: Rng, rows: number, dim: number, scale = 1): Matrix =>
  Array.from({ length: rows }, () => {
    const v = Array.from({ length: dim }, () => rng.normal())
    const n = Math.hypot(...v)
    return v.map((x) => Math.fround((scale * x) / n))
  })

export const t2 = (m: Matrix): tf.Tensor2D => tf.tensor2d(m)

export const dot = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): number => {
  let s = 0
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!
  return s
}

/** log Σ exp(x) in float64, shifted by the max so that ±1e3 stays finite. */
export const logSumExp = (xs: ReadonlyArray<number>): number => {
  let m = -Infinity
  for (const x of xs) m = Math.max(m, x)
  let s = 0
  for (const x of xs) s += Math.exp(x - m)
  return m + Math.log(s)
}

/** log softmax in float64. */
export const logSoftmax = (xs: ReadonlyArray<number>): Array<number> => {
  const l = logSumExp(xs)
  return xs.map((x) => x - l)
}

/** Reference CE(s, t) of one row: −log softmax([s·t, s·queue]/T)[0], by loops. */
export const naiveRowCe = (s: ReadonlyArray<number>, t: ReadonlyArray<number>, queue: Matrix, temperature: number): number => {
  const logits = [dot(s, t) / temperature]
  for (const n of queue) logits.push(dot(s, n) / temperature)
  return -logSoftmax(logits)[0]!
}

/** Reference InfoNCE: the batch mean of {@link naiveRowCe}. */
export const naiveInfoNce = (s: Matrix, t: Matrix, queue: Matrix, temperature: number): number =>
  s.reduce((acc, row, b) => acc + naiveRowCe(row, t[b]!, queue, temperature), 0) / s.length

/** Scalar value of a tensor-valued function, with every intermediate disposed. */
export const scalarOf = (f: () => tf.Scalar): number => tf.tidy(() => f().dataSync()[0]!)

/**
 * Central finite differences ∂f/∂x of a function of one matrix: (f(x + εe) − f(x − εe)) / 2ε,
 * where f is the float32 tensor implementation itself.
 */
export const finiteDifferenceGrad = (f: (x: Matrix) => number, x: Matrix, eps = 1e-3): Matrix =>
  x.map((row, i) =>
    row.map((_, j) => {
      const plus = x.map((r) => [...r])
      const minus = x.map((r) => [...r])
      plus[i]![j]! += eps
      minus[i]![j]! -= eps
      return (f(plus) - f(minus)) / (2 * eps)
    })
  )

/** |a − e| ≤ abs + rel·|e| elementwise, reporting the worst entry. */
export const expectAllClose = (actual: Matrix | Array<number>, expected: Matrix | Array<number>, abs: number, rel = 0): void => {
  const a = (actual as Array<unknown>).flat(2) as Array<number>
  const e = (expected as Array<unknown>).flat(2) as Array<number>
  expect(a.length).toBe(e.length)
  let worst = { i: -1, excess: 0 }
  a.forEach((ai, i) => {
    const excess = Math.abs(ai - e[i]!) - (abs + rel * Math.abs(e[i]!))
    if (!(excess <= 0) && (worst.i < 0 || excess > worst.excess || Number.isNaN(excess))) worst = { i, excess }
  })
  if (worst.i >= 0) expect.fail(`entry ${worst.i}: got ${a[worst.i]}, expected ${e[worst.i]} (abs ${abs}, rel ${rel})`)
}

/** Every entry is a finite number. */
export const expectFinite = (xs: number | Matrix | Array<number> | ArrayLike<number>): void => {
  const flat: Array<number> =
    typeof xs === "number" ? [xs] : Array.isArray(xs) ? ((xs as Array<unknown>).flat(2) as Array<number>) : Array.from(xs)
  const bad = flat.findIndex((x) => !Number.isFinite(x))
  if (bad >= 0) expect.fail(`entry ${bad} is ${flat[bad]}`)
}

/** Runs `f`, disposes what it returns, and checks that the number of live tensors is unchanged. */
export const expectNoLeak = (f: () => tf.TensorContainer): void => {
  const before = tf.memory().numTensors
  tf.dispose(f())
  expect(tf.memory().numTensors).toBe(before)
}

export const makeRng = (seed: number): Rng => Rng.fromSeed(seed)

/** `tf.grad` for a function of one [B, D] matrix (tf.grad's typing wants `Tensor` → `Tensor`). */
export const grad2d = (f: (x: tf.Tensor2D) => tf.Tensor): ((x: tf.Tensor2D) => tf.Tensor2D) =>
  tf.grad(f as (x: tf.Tensor) => tf.Tensor) as (x: tf.Tensor2D) => tf.Tensor2D

/** `tf.grads` for a function of several [B, D] matrices. */
export const grads2d = (f: (...xs: Array<tf.Tensor2D>) => tf.Tensor): ((xs: Array<tf.Tensor2D>) => Array<tf.Tensor2D>) =>
  tf.grads(f as (...xs: Array<tf.Tensor>) => tf.Tensor) as (xs: Array<tf.Tensor2D>) => Array<tf.Tensor2D>
