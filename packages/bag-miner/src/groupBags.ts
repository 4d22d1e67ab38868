import type { Rng } from "@bingo/runtime"
import { type Bags, makeBags } from "./Bags.ts"

/**
 * Bags from a grouping of the samples (k-means clusters, ground-truth classes): the K
 * neighbours of an anchor are drawn from the other members of its group.
 *
 * With m other members in the group:
 * - m >= K: K distinct members, drawn uniformly without replacement (Floyd's algorithm);
 * - 0 < m < K: every other member once, the remaining K - m slots drawn uniformly *with*
 *   replacement from them (small groups repeat members rather than leave the group);
 * - m = 0: an isolated row, the anchor repeated K times (see the self policy in Bags.ts).
 *
 * `groups[i]` is any integer id (labels need not be dense or start at 0). Deterministic for
 * a given `rng` state.
 */
export const groupBags = (groups: Int32Array, k: number, rng: Rng): Bags => {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`K must be a positive integer, got ${k}`)
  const n = groups.length
  // Dense group ids, then members of each group in index order (counting sort).
  const ids = new Map<number, number>()
  const dense = new Int32Array(n)
  for (let i = 0; i < n; i++) {
    const g = groups[i]!
    let id = ids.get(g)
    if (id === undefined) {
      id = ids.size
      ids.set(g, id)
    }
    dense[i] = id
  }
  const offsets = new Int32Array(ids.size + 1)
  for (let i = 0; i < n; i++) offsets[dense[i]! + 1]!++
  for (let g = 0; g < ids.size; g++) offsets[g + 1]! += offsets[g]!
  const fill = offsets.slice(0, ids.size)
  const members = new Int32Array(n)
  const position = new Int32Array(n)
  for (let i = 0; i < n; i++) {
    const g = dense[i]!
    position[i] = fill[g]! - offsets[g]!
    members[fill[g]!++] = i
  }

  const neighbours = new Int32Array(n * k)
  const chosen: Array<number> = []
  for (let i = 0; i < n; i++) {
    const g = dense[i]!
    const base = offsets[g]!
    const m = offsets[g + 1]! - base - 1
    const self = position[i]!
    // the t-th other member of i's group, t in [0, m)
    const other = (t: number): number => members[base + (t >= self ? t + 1 : t)]!
    const row = i * k
    if (m === 0) {
      neighbours.fill(i, row, row + k)
    } else if (m >= k) {
      chosen.length = 0
      for (let j = m - k; j < m; j++) {
        const t = rng.int(j + 1)
        chosen.push(chosen.includes(t) ? j : t)
      }
      for (let j = 0; j < k; j++) neighbours[row + j] = other(chosen[j]!)
    } else {
      for (let j = 0; j < m; j++) neighbours[row + j] = other(j)
      for (let j = m; j < k; j++) neighbours[row + j] = other(rng.int(m))
    }
  }
  return makeBags(n, k, neighbours)
}
