import { Effect } from "effect"
import { BagIndexOutOfRange, BagSelfNeighbour, BagShapeMismatch, type BagValidationError } from "./BagMinerError.ts"

/**
 * The output of Stage 1: for each of the N samples (the anchor) the indices of its K bag
 * neighbours, as an N x K row-major matrix. The anchor itself is not stored: the bag of
 * anchor i is {i} + bagOf(bags, i).
 *
 * Self policy. A row never lists its anchor among other neighbours. The one exception is an
 * *isolated* row, made only of the anchor repeated K times: k-means and label bags produce it
 * for a sample alone in its cluster or class, where there is no other member to draw. The
 * distillation positive is then the anchor itself (plain instance discrimination for that
 * sample). kNN bags never contain isolated rows (K < N is required).
 */
export interface Bags {
  readonly n: number
  readonly k: number
  /** n*k neighbour indices, row-major; row i holds the neighbours of anchor i. */
  readonly neighbours: Int32Array
}

/** Build a Bags value, checking that the matrix is n x k (a programmer error otherwise). */
export const makeBags = (n: number, k: number, neighbours: Int32Array): Bags => {
  if (!Number.isInteger(n) || n < 0 || !Number.isInteger(k) || k < 1) {
    throw new RangeError(`bags need an integer n >= 0 and k >= 1, got n=${n}, k=${k}`)
  }
  if (neighbours.length !== n * k) {
    throw new RangeError(`bags of ${n} x ${k} need ${n * k} indices, got ${neighbours.length}`)
  }
  return { n, k, neighbours }
}

/** The K neighbours of anchor i (a view, not a copy). */
export const bagOf = (bags: Bags, i: number): Int32Array => {
  if (!Number.isInteger(i) || i < 0 || i >= bags.n) throw new RangeError(`anchor ${i} outside [0, ${bags.n})`)
  return bags.neighbours.subarray(i * bags.k, (i + 1) * bags.k)
}

/** True when row i is isolated: every entry is the anchor itself (see the self policy on `Bags`). */
export const isIsolated = (bags: Bags, i: number): boolean => {
  const row = bagOf(bags, i)
  for (let j = 0; j < row.length; j++) if (row[j] !== i) return false
  return true
}

export interface ValidateBagsOptions {
  /** Named in the errors (the file the bags came from). */
  readonly path?: string
  /** Accept rows that mix the anchor with other neighbours (e.g. a third-party file mined
   * without self-exclusion on duplicate images). Default false. */
  readonly allowSelf?: boolean
}

/**
 * Check that `bags` fit a dataset of `datasetSize` samples: N rows, every index in
 * [0, N), and no anchor among its own neighbours except in isolated rows. Succeeds with the
 * same value; fails with the first problem found (row order).
 */
export const validateBags = (
  bags: Bags,
  datasetSize: number,
  options: ValidateBagsOptions = {}
): Effect.Effect<Bags, BagValidationError> => {
  const error = findBagsError(bags, datasetSize, options)
  return error === undefined ? Effect.succeed(bags) : Effect.fail(error)
}

/** The synchronous core of `validateBags`: the first problem, or undefined. */
export const findBagsError = (bags: Bags, datasetSize: number, options: ValidateBagsOptions = {}): BagValidationError | undefined => {
  const path = options.path === undefined ? {} : { path: options.path }
  if (bags.n !== datasetSize) return new BagShapeMismatch({ ...path, expectedN: datasetSize, actualN: bags.n })
  const { n, k, neighbours } = bags
  for (let i = 0; i < n; i++) {
    let selfCount = 0
    for (let j = 0; j < k; j++) {
      const index = neighbours[i * k + j]!
      if (index < 0 || index >= n) return new BagIndexOutOfRange({ ...path, row: i, index, n })
      if (index === i) selfCount++
    }
    if (selfCount > 0 && selfCount < k && options.allowSelf !== true) return new BagSelfNeighbour({ ...path, row: i })
  }
  return undefined
}
