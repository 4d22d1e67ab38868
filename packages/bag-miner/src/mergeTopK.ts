import { noCandidate, type TopK } from "./TopK.ts"

/**
 * The K nearest neighbours of each query row from its partial top-k lists (one per index shard
 * it was searched against): all candidates together, the query row itself dropped (by id, so a
 * duplicate of the anchor stays a neighbour), ordered by (similarity desc, id asc), the first K
 * kept. With one list from the whole matrix this is exactly knnBags' rule.
 *
 * - `partials`: lists for the same `queryIds.length` query rows (any widths).
 * - `queryIds`: the global id of each query row (the anchor dropped from its row).
 * - Returns rows x k ids, row-major. A row with fewer than K candidates besides its anchor keeps
 *   `noCandidate` (-1) in its last slots; `firstShortRow` finds it.
 *
 * An id listed twice for one row (the same shard searched twice) is a programmer error.
 */
export const mergeTopK = (partials: ReadonlyArray<TopK>, queryIds: ArrayLike<number>, k: number): Int32Array => {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be a positive integer, got ${k}`)
  const rows = queryIds.length
  for (const p of partials) if (p.rows !== rows) throw new RangeError(`a partial list of ${p.rows} rows for ${rows} query rows`)
  const out = new Int32Array(rows * k).fill(noCandidate)
  const candidateIds: Array<number> = []
  const candidateSims: Array<number> = []
  const order: Array<number> = []
  for (let r = 0; r < rows; r++) {
    const anchor = queryIds[r]!
    candidateIds.length = 0
    candidateSims.length = 0
    for (const p of partials) {
      for (let j = r * p.width; j < (r + 1) * p.width; j++) {
        const id = p.ids[j]!
        if (id === noCandidate || id === anchor) continue
        candidateIds.push(id)
        candidateSims.push(p.sims[j]!)
      }
    }
    order.length = candidateIds.length
    for (let j = 0; j < order.length; j++) order[j] = j
    order.sort((a, b) => candidateSims[b]! - candidateSims[a]! || candidateIds[a]! - candidateIds[b]!)
    const kept = Math.min(k, order.length)
    for (let j = 0; j < kept; j++) {
      if (j > 0 && candidateIds[order[j]!] === out[r * k + j - 1])
        throw new RangeError(`row ${r}: id ${candidateIds[order[j]!]} listed twice`)
      out[r * k + j] = candidateIds[order[j]!]!
    }
  }
  return out
}

/** The first row of merged neighbours holding an empty slot, with how many it found; undefined when none. */
export const firstShortRow = (neighbours: Int32Array, k: number): { readonly row: number; readonly found: number } | undefined => {
  for (let i = 0; i < neighbours.length; i++) {
    if (neighbours[i] === noCandidate) {
      const row = Math.floor(i / k)
      return { row, found: i - row * k }
    }
  }
  return undefined
}
