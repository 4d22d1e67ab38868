import { Rng } from "@bingo/runtime"
import { describe, expect, it } from "vitest"
import { firstShortRow, mergeTopK } from "../src/mergeTopK.ts"
import { makeTopK, noCandidate, type TopK } from "../src/TopK.ts"
import { rows } from "./helpers.ts"

/** Reference: every candidate of the row in one list, anchor and empty slots dropped, sorted, first K. */
const naiveMerge = (partials: ReadonlyArray<TopK>, queryIds: ReadonlyArray<number>, k: number): Array<Array<number>> =>
  queryIds.map((anchor, r) => {
    const all = partials.flatMap((p) =>
      Array.from({ length: p.width }, (_, j) => ({ id: p.ids[r * p.width + j]!, sim: p.sims[r * p.width + j]! }))
    )
    const kept = all.filter((c) => c.id !== noCandidate && c.id !== anchor).sort((a, b) => b.sim - a.sim || a.id - b.id)
    return Array.from({ length: k }, (_, j) => kept[j]?.id ?? noCandidate)
  })

describe("mergeTopK", () => {
  it("keeps the K best by (similarity desc, id asc), anchor dropped, from a hand-made case", () => {
    // row 0 (anchor 7): shard A gives 7 (1.0), 3 (0.5); shard B gives 9 (0.5), 1 (0.9)
    const a = makeTopK(1, 2, Int32Array.from([7, 3]), Float32Array.from([1, 0.5]))
    const b = makeTopK(1, 2, Int32Array.from([9, 1]), Float32Array.from([0.5, 0.9]))
    expect(Array.from(mergeTopK([a, b], [7], 2))).toEqual([1, 3])
    expect(Array.from(mergeTopK([b, a], [7], 3))).toEqual([1, 3, 9])
    // a duplicate of the anchor (another id, same similarity) stays a neighbour
    const dup = makeTopK(1, 3, Int32Array.from([2, 5, 4]), Float32Array.from([1, 1, 0.2]))
    expect(Array.from(mergeTopK([dup], [5], 2))).toEqual([2, 4])
  })

  it("equals a naive concatenate-and-sort on random lists with ties and empty slots", () => {
    const rng = Rng.fromSeed(3)
    for (let trial = 0; trial < 20; trial++) {
      const nRows = 1 + rng.int(12)
      const k = 1 + rng.int(5)
      const shards = 1 + rng.int(4)
      const queryIds = Array.from({ length: nRows }, () => rng.int(40))
      // each shard owns the ids congruent to its number mod `shards`, so no id repeats within a row
      const partials = Array.from({ length: shards }, (_, s) => {
        const width = k + 1
        const ids = new Int32Array(nRows * width).fill(noCandidate)
        const sims = new Float32Array(nRows * width).fill(Number.NEGATIVE_INFINITY)
        for (let r = 0; r < nRows; r++) {
          const pool = Array.from({ length: 10 }, (_, j) => j * shards + s)
          const filled = rng.int(width + 1)
          for (let j = 0; j < filled; j++) {
            const id = pool.splice(rng.int(pool.length), 1)[0]!
            // similarities from a small set, so ties are common
            ids[r * width + j] = rng.bernoulli(0.2) ? queryIds[r]! : id
            sims[r * width + j] = rng.int(4) / 4
          }
        }
        // an anchor forced into a slot may repeat it: keep the first, empty the rest
        for (let r = 0; r < nRows; r++) {
          const seen = new Set<number>()
          for (let j = 0; j < width; j++) {
            const id = ids[r * width + j]!
            if (id !== noCandidate && seen.has(id)) {
              ids[r * width + j] = noCandidate
              sims[r * width + j] = Number.NEGATIVE_INFINITY
            }
            seen.add(id)
          }
        }
        return makeTopK(nRows, width, ids, sims)
      })
      // an anchor may belong to several shards' id sets only through the forced slots, which merge drops
      expect(rows(mergeTopK(partials, queryIds, k), k)).toEqual(naiveMerge(partials, queryIds, k))
    }
  })

  it("marks rows with fewer than K candidates, found by firstShortRow", () => {
    const p = makeTopK(
      2,
      3,
      Int32Array.from([0, 1, 2, 1, noCandidate, noCandidate]),
      Float32Array.from([1, 0.5, 0.2, 1, -Infinity, -Infinity])
    )
    const merged = mergeTopK([p], [0, 1], 2)
    expect(rows(merged, 2)).toEqual([
      [1, 2],
      [noCandidate, noCandidate]
    ])
    expect(firstShortRow(merged, 2)).toEqual({ row: 1, found: 0 })
    expect(firstShortRow(mergeTopK([p], [0, 5], 1), 1)).toBeUndefined()
  })
})
