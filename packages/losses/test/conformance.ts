/**
 * The conformance suite every loss function's test runs, as Effect's platform tests run one
 * `KeyValueStore` suite against every implementation. For one loss it checks:
 *
 * - hand cases: inputs small enough to work out on paper, the expected value written as arithmetic;
 * - agreement with a naive float64 loop implementation on random unit embeddings;
 * - the autodiff gradient against central finite differences of the float32 loss itself;
 * - logits of ±1e3 (a sharp temperature, and optionally inputs of norm √1000 at T = 1): the
 *   value still agrees with the reference and it and its gradients stay finite;
 * - no tensor leak, forward and backward.
 *
 * A loss's test file supplies its inputs, its hand cases, its reference loop and the options of
 * each check; tests particular to one loss stay in its file. Not a test file (vitest runs
 * *.test.ts only).
 */
import * as tf from "@tensorflow/tfjs"
import { describe, it } from "vitest"
import {
  expectAllClose,
  expectFinite,
  expectNoLeak,
  finiteDifferenceGrad,
  grads2d,
  makeRng,
  type Matrix,
  randomUnitRows,
  t2,
  useCpuBackend
} from "./helpers.ts"

/** The rows of one input: the batch (B rows) or the queue (Q rows); every input is D wide. */
export type InputRows = "batch" | "queue"

/** One value per named input of a loss, e.g. `{ q: Matrix, k: Matrix, queue: Matrix }`. */
export type Inputs<K extends string, A> = { readonly [key in K]: A }

/** A case worked out on paper. */
export interface HandCase<K extends string, O> {
  /** The test's title, e.g. "matches a hand computation". */
  readonly title: string
  readonly inputs: Inputs<K, Matrix>
  readonly options: O
  /** The loss written as arithmetic: the scalar, or one value per batch row. */
  readonly expected: number | ReadonlyArray<number>
  /** Largest |value − expected| allowed; default 5e-7 (`toBeCloseTo(expected, 6)`). */
  readonly abs?: number
}

/** One comparison with the reference loop on random inputs. */
export interface RandomCase<O> {
  readonly options: O
  /** The random inputs' seed; default the spec's `seed`. Equal seeds give equal inputs. */
  readonly seed?: number
  /** |value − reference| ≤ abs + rel·|reference|; default abs 1e-5, rel 0. */
  readonly abs?: number
  readonly rel?: number
}

export interface LossConformance<K extends string, O> {
  /** The describe block's name: the function under test. */
  readonly name: string
  /**
   * The base seed: random inputs use `seed`, the gradient check `seed + 1`, the ±1e3 check
   * `seed + 2`, the leak check `seed + 3`.
   */
  readonly seed: number
  /** The loss's inputs in the order random inputs are drawn (a function when the options decide them). */
  readonly inputs: Inputs<K, InputRows> | ((options: O) => Inputs<K, InputRows>)
  /** The loss on float32 tensors: a scalar, or one value per batch row. */
  readonly compute: (x: Inputs<K, tf.Tensor2D>, options: O) => tf.Tensor
  /** The same loss by loops in float64: the scalar, or one value per batch row. */
  readonly naive: (x: Inputs<K, Matrix>, options: O) => number | ReadonlyArray<number>
  readonly hand: ReadonlyArray<HandCase<K, O>>
  /** Comparisons with `naive` on random inputs (B = `batch`, default 4; D = 8; Q = 16). */
  readonly random: { readonly title?: string; readonly batch?: number; readonly cases: ReadonlyArray<RandomCase<O>> }
  /** Finite-difference gradient check with respect to the inputs `wrt` (B = 2, D = 3, Q = 4). */
  readonly gradient: { readonly options: O; readonly wrt: ReadonlyArray<K> }
  /**
   * Logits of ±1e3 (B = 3, D = 4, Q = 6): `sharp` (a temperature of 1e-3) on unit inputs, and
   * `unscaled` (T = 1) on the same inputs times √1000; gradients with respect to `gradientWrt`
   * at `sharp`.
   */
  readonly extreme: {
    readonly title?: string
    readonly sharp: O
    readonly unscaled?: O
    readonly gradientWrt: ReadonlyArray<K>
  }
  /**
   * Leak checks (B = 2, D = 4, Q = 4): the value at each of `values`, and the gradient with
   * respect to the first input of `gradient.wrt` at `gradient`.
   */
  readonly leak: { readonly values: ReadonlyArray<O>; readonly gradient: O }
}

const mapInputs = <K extends string, A, B>(x: Inputs<K, A>, f: (a: A) => B): Inputs<K, B> =>
  Object.fromEntries(Object.entries(x).map(([k, v]) => [k, f(v as A)])) as Inputs<K, B>

const rowsOf = <K extends string, O>(spec: LossConformance<K, O>, options: O): Inputs<K, InputRows> =>
  typeof spec.inputs === "function" ? spec.inputs(options) : spec.inputs

/** Random unit rows for every input, drawn in the order the inputs are listed. */
const draw = <K extends string, O>(
  spec: LossConformance<K, O>,
  options: O,
  seed: number,
  size: { readonly batch: number; readonly dim: number; readonly queue: number }
): Inputs<K, Matrix> => {
  const rng = makeRng(seed)
  return mapInputs(rowsOf(spec, options), (rows) => randomUnitRows(rng, rows === "batch" ? size.batch : size.queue, size.dim))
}

/** A scalar loss as it is, per-row values summed. */
const summed = (t: tf.Tensor): tf.Scalar => (t.rank === 0 ? (t as tf.Scalar) : tf.sum(t))

/** The loss's values (one, or one per row) on these inputs, every tensor disposed. */
export const valuesOf = <K extends string, O>(spec: LossConformance<K, O>, x: Inputs<K, Matrix>, options: O): Array<number> =>
  tf.tidy(() => Array.from(spec.compute(mapInputs(x, t2), options).dataSync()))

/** The loss as one number: the scalar, or the sum of the per-row values. */
export const lossValueOf = <K extends string, O>(spec: LossConformance<K, O>, x: Inputs<K, Matrix>, options: O): number =>
  valuesOf(spec, x, options).reduce((a, b) => a + b, 0)

/** Autodiff gradients of {@link lossValueOf} with respect to the inputs `wrt`. */
const gradientsOf = <K extends string, O>(
  spec: LossConformance<K, O>,
  x: Inputs<K, Matrix>,
  options: O,
  wrt: ReadonlyArray<K>
): Array<Matrix> =>
  tf.tidy(() => {
    const fixed = mapInputs(x, t2)
    const f = (...free: Array<tf.Tensor2D>) =>
      summed(spec.compute({ ...fixed, ...Object.fromEntries(wrt.map((k, i) => [k, free[i]!])) }, options))
    return grads2d(f)(wrt.map((k) => fixed[k])).map((g) => g.arraySync() as Matrix)
  })

const asArray = (v: number | ReadonlyArray<number>): Array<number> => (typeof v === "number" ? [v] : [...v])

const scaled = (m: Matrix): Matrix => m.map((r) => r.map((x) => Math.fround(x * Math.sqrt(1000))))

/** Registers the conformance tests of one loss (see the module comment). */
export const describeLossConformance = <K extends string, O>(spec: LossConformance<K, O>): void => {
  describe(spec.name, () => {
    useCpuBackend()

    for (const hand of spec.hand) {
      it(hand.title, () => {
        expectAllClose(valuesOf(spec, hand.inputs, hand.options), asArray(hand.expected), hand.abs ?? 5e-7)
      })
    }

    it(`agrees with a naive loop implementation on random inputs${spec.random.title ?? ""}`, () => {
      for (const c of spec.random.cases) {
        const x = draw(spec, c.options, c.seed ?? spec.seed, { batch: spec.random.batch ?? 4, dim: 8, queue: 16 })
        expectAllClose(valuesOf(spec, x, c.options), asArray(spec.naive(x, c.options)), c.abs ?? 1e-5, c.rel ?? 0)
      }
    })

    it(`has the finite-difference gradient with respect to ${spec.gradient.wrt.join(", ")}`, () => {
      const { options, wrt } = spec.gradient
      const x = draw(spec, options, spec.seed + 1, { batch: 2, dim: 3, queue: 4 })
      gradientsOf(spec, x, options, wrt).forEach((grad, i) => {
        const k = wrt[i]!
        expectFinite(grad)
        expectAllClose(
          grad,
          finiteDifferenceGrad((m) => lossValueOf(spec, { ...x, [k]: m }, options), x[k]),
          2e-3,
          1e-2
        )
      })
    })

    it(`stays finite for logits of ±1e3${spec.extreme.title ?? ""}`, () => {
      const { sharp, unscaled, gradientWrt } = spec.extreme
      const x = draw(spec, sharp, spec.seed + 2, { batch: 3, dim: 4, queue: 6 })
      const atSharp = valuesOf(spec, x, sharp)
      expectFinite(atSharp)
      expectAllClose(atSharp, asArray(spec.naive(x, sharp)), 1e-2, 1e-4)
      if (unscaled !== undefined) {
        // vectors of norm √1000: dot products up to ±1e3 at T = 1
        const big = mapInputs(x, scaled)
        const atUnscaled = valuesOf(spec, big, unscaled)
        expectFinite(atUnscaled)
        expectAllClose(atUnscaled, asArray(spec.naive(big, unscaled)), 1e-2, 1e-4)
      }
      gradientsOf(spec, x, sharp, gradientWrt).forEach(expectFinite)
    })

    it("leaks no tensor", () => {
      const size = { batch: 2, dim: 4, queue: 4 }
      for (const options of spec.leak.values) {
        const x = mapInputs(draw(spec, options, spec.seed + 3, size), t2)
        expectNoLeak(() => spec.compute(x, options))
        tf.dispose(Object.values(x) as Array<tf.Tensor>)
      }
      const { gradient: options } = spec.leak
      const wrt = spec.gradient.wrt[0]!
      const x = mapInputs(draw(spec, options, spec.seed + 3, size), t2)
      expectNoLeak(() => grads2d((free) => summed(spec.compute({ ...x, [wrt]: free }, options)))([x[wrt]]))
      tf.dispose(Object.values(x) as Array<tf.Tensor>)
    })
  })
}
