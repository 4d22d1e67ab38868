import { Effect } from "effect"
import { existsSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, relative, resolve } from "node:path"
import { type Cell, planCells } from "./cellPlan.ts"
import { type CellRecord, readCellRecord } from "./CellRecord.ts"
import { prepareShared } from "./prepareShared.ts"
import { runCell } from "./runCell.ts"
import type { Study } from "./Study.ts"
import { StudyRerunError } from "./StudyError.ts"

/** One value a rerun compares: a score, the bag purity or an epoch's mean distillation loss. */
export interface RerunValue {
  readonly what: string
  readonly recorded: number | null
  readonly rerun: number | null
}

export interface RerunComparison {
  readonly cell: Cell
  /** The folder the cell ran again in. */
  readonly dir: string
  /** The native thread count the rerun was asked to use (the cell's recorded one), when it was. */
  readonly threads: string | undefined
  readonly values: ReadonlyArray<RerunValue>
  /** Every value the same number (bit for bit: the scores are fractions of the test set, the losses float64 means). */
  readonly identical: boolean
}

/** `<arm>/<seed>` (as `--rerun` takes it) -> the cell of `study`, or what is wrong. */
export const findCell = (study: Study, which: string): Effect.Effect<Cell, StudyRerunError> => {
  const m = /^(.+)\/(\d+)$/.exec(which)
  const cells = planCells(study)
  const valid = cells.map((c) => `${c.arm}/${c.seed}`)
  const cell = m === null ? undefined : cells.find((c) => c.arm === m[1] && c.seed === Number(m[2]))
  return cell !== undefined
    ? Effect.succeed(cell)
    : Effect.fail(
        new StudyRerunError({
          cell: which,
          reason: `${m === null ? "not <arm>/<seed>" : "no such cell in the study"}; cells: ${valid.slice(0, 6).join(", ")}${valid.length > 6 ? ", ..." : ""}`
        })
      )
}

/** The values a rerun compares, in a fixed order: every score of either record, bag purity, each epoch's loss. */
export const compareRecords = (recorded: CellRecord, rerun: CellRecord): ReadonlyArray<RerunValue> => {
  const scores = [...new Set([...Object.keys(recorded.scores ?? {}), ...Object.keys(rerun.scores ?? {})])]
  const epochs = Math.max(recorded.distillLosses.length, rerun.distillLosses.length)
  return [
    ...scores.map((k) => ({ what: k, recorded: recorded.scores?.[k] ?? null, rerun: rerun.scores?.[k] ?? null })),
    { what: "bagPurity", recorded: recorded.bagPurity, rerun: rerun.bagPurity },
    ...Array.from({ length: epochs }, (_, e) => ({
      what: `distillLoss[epoch ${e + 1}]`,
      recorded: recorded.distillLosses[e] ?? null,
      rerun: rerun.distillLosses[e] ?? null
    }))
  ]
}

/**
 * Run a finished cell of `study` again, in `into` (default `<tmp>/bingo-rerun-<study>-<arm>-seed-<s>`,
 * never the study's own folder), with the same resolved config and shared teacher and bags, and
 * compare its scores, bag purity and epoch losses with the recorded cell.json. The native thread
 * count is set to the one the cell recorded (`computeThreads`; float results depend on it)
 * unless `BINGO_NATIVE_THREADS` is set. A rerun folder that already holds a finished rerun is
 * compared again without running; an interrupted one resumes from its checkpoint.
 */
export const rerunCell = Effect.fn("rerunCell")(function* (study: Study, which: string, into?: string) {
  const cell = yield* findCell(study, which)
  const recorded = yield* readCellRecord(cell.recordPath).pipe(
    Effect.mapError((e) => new StudyRerunError({ cell: which, reason: `it has not finished (nothing to compare with): ${e.message}` }))
  )
  const dir = resolve(into ?? join(tmpdir(), `bingo-rerun-${study.name}-${cell.arm}-seed-${cell.seed}`))
  const inside = relative(study.outDir, dir)
  if (inside === "" || (!inside.startsWith("..") && !inside.startsWith("/"))) {
    return yield* new StudyRerunError({ cell: which, reason: `${dir} is inside the study's outDir; rerun into another folder (--into)` })
  }
  const env = process.env.BINGO_NATIVE_THREADS
  const forced = env === undefined || env === "" || env === "auto" ? undefined : env
  let threads: string | undefined
  if (recorded.computeThreads !== undefined && forced === undefined) {
    threads = String(recorded.computeThreads)
    process.env.BINGO_NATIVE_THREADS = threads
    yield* Effect.logInfo(`rerun: ${threads} native threads, as the cell recorded`)
  } else if (recorded.computeThreads !== undefined && forced !== String(recorded.computeThreads)) {
    yield* Effect.logWarning(
      `rerun: the cell ran with ${recorded.computeThreads} native threads, BINGO_NATIVE_THREADS=${forced} asks for another count: the rounding will differ`
    )
  } else if (recorded.computeThreads === undefined) {
    yield* Effect.logInfo(
      forced === undefined
        ? "rerun: the cell recorded no native thread count (an older cell, or not cpu-native): the count is chosen from the machine's load, and one other than the cell's changes the rounding (set BINGO_NATIVE_THREADS)"
        : `rerun: the cell recorded no native thread count (an older cell, or not cpu-native): BINGO_NATIVE_THREADS=${forced} as set`
    )
  }
  const again: Cell = {
    ...cell,
    dir,
    recordPath: join(dir, "cell.json"),
    failurePath: join(dir, "failed.json"),
    config: { ...cell.config, outDir: dir }
  }
  yield* prepareShared(study, [again])
  const rerun = existsSync(again.recordPath) ? yield* readCellRecord(again.recordPath) : yield* runCell(study, again)
  const values = compareRecords(recorded, rerun)
  return {
    cell,
    dir,
    threads,
    values,
    identical: values.every((v) => v.recorded === v.rerun)
  } satisfies RerunComparison
})

/** The comparison as text: one line per value, then the verdict. */
export const formatRerun = (c: RerunComparison): string => {
  const fmt = (v: number | null) => (v === null ? "–" : String(v))
  const width = Math.max(...c.values.map((v) => v.what.length))
  const lines = c.values.map((v) => {
    const diff =
      v.recorded === null || v.rerun === null
        ? "missing"
        : v.recorded === v.rerun
          ? "same"
          : `${v.rerun - v.recorded > 0 ? "+" : ""}${v.rerun - v.recorded}`
    return `${v.what.padEnd(width)}  recorded ${fmt(v.recorded)}  rerun ${fmt(v.rerun)}  ${diff}`
  })
  const differing = c.values.filter((v) => v.recorded !== v.rerun).length
  const verdict = c.identical
    ? `reproduced bit for bit: all ${c.values.length} values the same`
    : `not reproduced: ${differing} of ${c.values.length} values differ (a different native thread count or code changes the rounding, and training amplifies it; compare the size of the differences with the arm's spread over seeds)`
  return [`rerun of ${c.cell.arm} seed ${c.cell.seed} in ${c.dir}`, ...lines, verdict].join("\n")
}
