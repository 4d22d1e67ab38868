import type { Arm } from "./Study.ts"
import type { CellRecord } from "./CellRecord.ts"

/**
 * How the finished cells of one arm ran, from their cell.json files: the bags its loss reads and
 * their purity, the distillation loss of the first and last epoch, wall-clock time, memory and
 * the commits. The "Runs" section of results.md; every figure comes from the cell files.
 */
export interface ArmRuns {
  readonly arm: string
  /** Finished cells of the arm. */
  readonly cells: number
  /** `knn K=5`, `kmeans K=5 (100 clusters)`, ...; undefined when the arm's loss reads no bag positive. */
  readonly bags: string | undefined
  /** Mean over the cells of the bag purity (the fraction of bag members sharing their anchor's class); undefined without bags or labels. */
  readonly purity: number | undefined
  /** Mean over the cells of the first and the last epoch's mean distillation loss. */
  readonly firstLoss: number | undefined
  readonly lastLoss: number | undefined
  /** Mean, min and max of the cells' total wall-clock seconds. */
  readonly seconds: { readonly mean: number; readonly min: number; readonly max: number } | undefined
  /** Largest peak RSS of the cells' processes, MiB. */
  readonly peakRssMiB: number | undefined
  /** The distinct 7-character commits that ran the cells, in cell order ("unknown" for a record without one). */
  readonly commits: ReadonlyArray<string>
  /** The distinct TF.js backends of the cells. */
  readonly backends: ReadonlyArray<string>
  /** The distinct native thread counts the cells recorded (`computeThreads`), in cell order, and how many cells recorded none. */
  readonly threads: { readonly counts: ReadonlyArray<number>; readonly unrecorded: number }
}

/** What the table says about a study's whole run: every finished cell together. */
export interface StudyRunTotals {
  readonly cells: number
  /** Sum of the cells' total seconds (the shared teacher and bags, made before the first cell, not included). */
  readonly seconds: number
  /** Earliest and latest `finishedAt` (ISO 8601). */
  readonly firstFinished: string | undefined
  readonly lastFinished: string | undefined
}

const mean = (xs: ReadonlyArray<number>): number | undefined => (xs.length === 0 ? undefined : xs.reduce((a, x) => a + x, 0) / xs.length)

/** The bags an arm's config mines, as results.md names them. */
export const bagsLabel = (bags: Arm["config"]["bags"]): string =>
  `${bags.method} K=${bags.k}${bags.method === "kmeans" && bags.clusters !== undefined ? ` (${bags.clusters} clusters)` : ""}`

/**
 * One summary per arm of its finished cells (`records`). `readsBags(arm)` says whether the arm's
 * loss reads a bag positive (undefined when it could not be told, e.g. a plugin loss that failed
 * to load: the bags are then shown).
 */
export const summariseArmRuns = (
  arms: ReadonlyArray<Arm>,
  records: ReadonlyArray<CellRecord>,
  readsBags: (arm: Arm) => boolean | undefined
): ReadonlyArray<ArmRuns> =>
  arms.map((arm) => {
    const own = records.filter((r) => r.arm === arm.name)
    const uses = readsBags(arm) !== false
    const totals = own.flatMap((r) => (r.seconds.total === undefined ? [] : [r.seconds.total]))
    const losses = own.filter((r) => r.distillLosses.length > 0)
    return {
      arm: arm.name,
      cells: own.length,
      bags: uses ? bagsLabel(arm.config.bags) : undefined,
      purity: uses ? mean(own.flatMap((r) => (r.bagPurity === null ? [] : [r.bagPurity]))) : undefined,
      firstLoss: mean(losses.map((r) => r.distillLosses[0]!)),
      lastLoss: mean(losses.map((r) => r.distillLosses[r.distillLosses.length - 1]!)),
      seconds: totals.length === 0 ? undefined : { mean: mean(totals)!, min: Math.min(...totals), max: Math.max(...totals) },
      peakRssMiB: own.length === 0 ? undefined : Math.max(...own.map((r) => r.peakRssMiB)),
      commits: [...new Set(own.map((r) => (r.gitCommit === null ? "unknown" : r.gitCommit.slice(0, 7))))],
      backends: [...new Set(own.map((r) => r.backend))],
      threads: {
        counts: [...new Set(own.flatMap((r) => (r.computeThreads === undefined ? [] : [r.computeThreads])))],
        unrecorded: own.filter((r) => r.computeThreads === undefined).length
      }
    }
  })

/** Every finished cell together: how many, their summed seconds, when the first and last finished. */
export const studyRunTotals = (records: ReadonlyArray<CellRecord>): StudyRunTotals => {
  const finished = records.map((r) => r.finishedAt).sort()
  return {
    cells: records.length,
    seconds: records.reduce((a, r) => a + (r.seconds.total ?? 0), 0),
    firstFinished: finished[0],
    lastFinished: finished[finished.length - 1]
  }
}
