import type { Cell } from "./cellPlan.ts"
import type { CellRecord } from "./CellRecord.ts"
import type { Study } from "./Study.ts"

/**
 * The rate assumed before any cell of a study has finished: training images x distillation
 * epochs per second of a whole cell (distillation, then evaluation). The quickstart's trainer
 * alone consumed 1,473 images/s on cpu-native on this project's 2-core machine
 * (docs/benchmarks.md); evaluation and larger models bring a whole cell lower, so read the
 * estimate as an order of magnitude until a cell has finished.
 */
export const defaultImagesPerSecond = 1000

/** Images per second and where the figure comes from. */
export interface Rate {
  readonly imagesPerSecond: number
  readonly source: string
}

/** What a cell costs in the estimate: training images x distillation epochs. */
export const cellWork = (cell: Cell, trainImages: number): number => trainImages * cell.config.distill.epochs

const rateOf = (cells: ReadonlyArray<Cell>, records: ReadonlyArray<CellRecord>): number | undefined => {
  let work = 0
  let seconds = 0
  for (const r of records) {
    const cell = cells.find((c) => c.index === r.index)
    if (cell === undefined || !(r.seconds["total"]! > 0)) continue
    work += cellWork(cell, r.dataset.train)
    seconds += r.seconds["total"]!
  }
  return seconds > 0 ? work / seconds : undefined
}

/**
 * The rate to estimate `arm`'s cells with: measured over the arm's finished cells (whole cell
 * time, from their cell.json), else over every finished cell of the study, else the study's
 * `imagesPerSecond`, else `defaultImagesPerSecond`.
 */
export const rateFor = (study: Study, cells: ReadonlyArray<Cell>, records: ReadonlyArray<CellRecord>, arm: string): Rate => {
  const own = rateOf(
    cells,
    records.filter((r) => r.arm === arm)
  )
  if (own !== undefined)
    return { imagesPerSecond: own, source: `measured on ${records.filter((r) => r.arm === arm).length} finished cell(s) of arm '${arm}'` }
  const all = rateOf(cells, records)
  if (all !== undefined) return { imagesPerSecond: all, source: `measured on ${records.length} finished cell(s) of other arms` }
  if (study.imagesPerSecond !== undefined) return { imagesPerSecond: study.imagesPerSecond, source: "the study's imagesPerSecond" }
  return { imagesPerSecond: defaultImagesPerSecond, source: "assumed, no cell has finished yet (defaultImagesPerSecond)" }
}

/** Estimated seconds of each cell of `cells` (by index). */
export const estimateSeconds = (
  study: Study,
  plan: ReadonlyArray<Cell>,
  records: ReadonlyArray<CellRecord>,
  cells: ReadonlyArray<Cell>,
  trainImages: number
): ReadonlyMap<number, { readonly seconds: number; readonly rate: Rate }> =>
  new Map(
    cells.map((c) => {
      const rate = rateFor(study, plan, records, c.arm)
      return [c.index, { seconds: cellWork(c, trainImages) / rate.imagesPerSecond, rate }] as const
    })
  )

/** `4.2 s`, `42 s`, `3 min 20 s`, `2 h 05 min`. */
export const formatDuration = (seconds: number): string => {
  if (seconds < 9.95) return `${seconds.toFixed(1)} s`
  const s = Math.round(seconds)
  if (s < 60) return `${s} s`
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`
}
