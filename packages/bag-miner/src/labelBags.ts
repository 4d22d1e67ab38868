import { Rng } from "@bingo/runtime"
import type { Bags } from "./Bags.ts"
import { groupBags } from "./groupBags.ts"

export interface LabelBagsOptions {
  /** Neighbours per anchor. */
  readonly k: number
  /** Seed of the draws (default 0). */
  readonly seed?: number
}

/**
 * Oracle bags from ground-truth labels (the paper's upper bound): each anchor's K neighbours
 * are drawn from the other samples of its class, so purity is 100% by construction (classes
 * of one sample give isolated rows). Sampling rules: see `groupBags`.
 */
export const labelBags = (labels: Int32Array, options: LabelBagsOptions): Bags =>
  groupBags(labels, options.k, Rng.fromSeed(options.seed ?? 0))
