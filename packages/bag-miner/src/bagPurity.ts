import type { Bags } from "./Bags.ts"

export interface ClassPurity {
  readonly label: number
  /** Anchors of this class. */
  readonly anchors: number
  /** Neighbour entries counted for those anchors (self entries excluded). */
  readonly neighbours: number
  /** Fraction of those entries whose label is this class (NaN when none was counted). */
  readonly purity: number
}

export interface BagPurity {
  /** Fraction of all counted neighbour entries that share their anchor's label. */
  readonly overall: number
  /** The same per anchor class, sorted by label. */
  readonly perClass: ReadonlyArray<ClassPurity>
  /** Entries equal to their own anchor (isolated rows), left out of every fraction. */
  readonly selfEntries: number
}

/**
 * Bag purity, the diagnostic of Stage 1 when labels exist: the fraction of bag neighbours
 * that share the anchor's label. Entries are counted individually (a neighbour listed twice
 * counts twice, as it is twice as likely to be drawn as the positive), so `overall` is the
 * probability that a uniformly drawn (anchor, positive) pair has matching labels. Entries
 * equal to the anchor (isolated rows) are excluded: they say nothing about the teacher.
 */
export const bagPurity = (bags: Bags, labels: Int32Array): BagPurity => {
  if (labels.length !== bags.n) throw new RangeError(`${labels.length} labels for ${bags.n} bags`)
  const { n, k, neighbours } = bags
  const perLabel = new Map<number, { anchors: number; neighbours: number; same: number }>()
  let counted = 0
  let same = 0
  let selfEntries = 0
  for (let i = 0; i < n; i++) {
    const label = labels[i]!
    let stats = perLabel.get(label)
    if (stats === undefined) {
      stats = { anchors: 0, neighbours: 0, same: 0 }
      perLabel.set(label, stats)
    }
    stats.anchors++
    for (let j = 0; j < k; j++) {
      const nb = neighbours[i * k + j]!
      if (nb === i) {
        selfEntries++
        continue
      }
      const match = labels[nb] === label ? 1 : 0
      stats.neighbours++
      stats.same += match
      counted++
      same += match
    }
  }
  const perClass = [...perLabel.entries()]
    .sort(([a], [b]) => a - b)
    .map(([label, s]) => ({
      label,
      anchors: s.anchors,
      neighbours: s.neighbours,
      purity: s.neighbours === 0 ? NaN : s.same / s.neighbours
    }))
  return { overall: counted === 0 ? NaN : same / counted, perClass, selfEntries }
}
