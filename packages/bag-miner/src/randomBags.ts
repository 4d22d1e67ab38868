import { Rng } from "@bingo/runtime"
import type { Bags } from "./Bags.ts"
import { groupBags } from "./groupBags.ts"

export interface RandomBagsOptions {
  /** Neighbours per anchor; must be below the number of samples. */
  readonly k: number
  /** Seed of the draws (default 0). */
  readonly seed?: number
}

/**
 * Random bags, the control for every other kind: each anchor's K neighbours are K distinct
 * other samples drawn uniformly (the whole dataset as one group of `groupBags`), so a bag
 * carries no information about its anchor. A student distilled on them tells how much of a
 * result the bags explain. Needs K < N (every row then has K distinct neighbours, never the
 * anchor); deterministic for a seed.
 */
export const randomBags = (n: number, options: RandomBagsOptions): Bags => {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`N must be a non-negative integer, got ${n}`)
  if (!Number.isInteger(options.k) || options.k < 1 || (n > 0 && options.k >= n)) {
    throw new RangeError(`random bags need an integer 1 <= K < N, got K=${options.k}, N=${n}`)
  }
  return groupBags(new Int32Array(n), options.k, Rng.fromSeed(options.seed ?? 0))
}
