import { Effect } from "effect"
import { rmSync } from "node:fs"
import { join } from "node:path"
import { barChartSvg, barsOf } from "./barChart.ts"
import { type Cell, inShard, isDone, isFailed, planCells, type Shard } from "./cellPlan.ts"
import { type CellRecord, type FailedCell, readCellRecord, writeStudyFile } from "./CellRecord.ts"
import { estimateSeconds, formatDuration } from "./estimateTime.ts"
import { prepareShared, type PreparedShared } from "./prepareShared.ts"
import { gitCommit, runCell } from "./runCell.ts"
import type { Study } from "./Study.ts"
import { formatStudyTable, mergeCells, metricLabel, type StudyResults } from "./studyTable.ts"
import { studyReportHtml } from "./studyReport.ts"

/**
 * Merge whatever cell files exist into `<outDir>/results.md` (the markdown table, also
 * returned), `<outDir>/results.json` (the same numbers), one bar chart per headline metric,
 * `<outDir>/<metric>.svg`, and `<outDir>/report.html` (the table, the charts and a link to every
 * cell's folder: `studyReportHtml`). Every file is written atomically.
 */
export const reportStudy = Effect.fn("reportStudy")(function* (study: Study) {
  const cells = planCells(study)
  const results = yield* mergeCells(study, cells)
  const table = formatStudyTable(results, study.outDir)
  yield* writeStudyFile(join(study.outDir, "results.md"), table)
  yield* writeStudyFile(join(study.outDir, "results.json"), `${JSON.stringify(results, null, 2)}\n`)
  const charts: Array<{ readonly metric: string; readonly svg: string }> = []
  for (const metric of study.headline) {
    const bars = barsOf(results, metric)
    if (bars.length === 0) continue
    const svg = yield* barChartSvg(`${study.name}: ${metricLabel(metric)}`, metric, bars)
    yield* writeStudyFile(join(study.outDir, `${metric}.svg`), svg)
    charts.push({ metric, svg })
  }
  yield* writeStudyFile(join(study.outDir, "report.html"), studyReportHtml(study, results, cells, charts))
  return { results, table }
})

export interface StudyRun {
  /** Indices of the cells this call ran (finished cells are skipped). */
  readonly ran: ReadonlyArray<number>
  readonly shared: PreparedShared
  readonly results: StudyResults
  readonly table: string
}

/** The errors that are an arm's outcome, not the study's fault: its training collapsed or diverged. */
const methodFailures: ReadonlyArray<string> = ["TrainingCollapsed", "TrainingDiverged", "LinearProbeDiverged"]

const isMethodFailure = (e: unknown): e is { readonly _tag: string; readonly message: string } =>
  typeof e === "object" && e !== null && methodFailures.includes((e as { _tag?: unknown })._tag as string)

/** A cell whose training collapsed or diverged: the error is its outcome, written to failed.json atomically. */
const recordFailure = (study: Study, cell: Cell, e: { readonly _tag: string; readonly message: string }) =>
  Effect.gen(function* () {
    const failed: FailedCell = {
      study: study.name,
      arm: cell.arm,
      seed: cell.seed,
      index: cell.index,
      error: { _tag: e._tag, message: e.message },
      commit: gitCommit(),
      failedAt: new Date().toISOString()
    }
    yield* writeStudyFile(cell.failurePath, `${JSON.stringify(failed, null, 2)}\n`)
    return failed
  })

const scoreLine = (r: CellRecord): string =>
  r.scores === null
    ? "not evaluated"
    : ["knnTop1", "linearTop1"]
        .filter((m) => r.scores![m] !== undefined)
        .map((m) => `${metricLabel(m)} ${(100 * r.scores![m]!).toFixed(1)}%`)
        .join(", ")

/**
 * Run a study's unfinished cells (of `shard`, when given) one after another, then report. The
 * shared teacher and bags are made first when missing; a cell with a cell.json is skipped, and
 * an interrupted one resumes from its checkpoint. Logs a line when each cell starts and ends,
 * with the elapsed time and an ETA from the cells finished so far.
 */
export const runStudy = Effect.fn("runStudy")(function* (
  study: Study,
  options: { readonly shard?: Shard; readonly retryFailed?: boolean } = {}
) {
  const plan = planCells(study)
  const mine = plan.filter((c) => inShard(c, options.shard))
  const pending = mine.filter((c) => !isDone(c) && (options.retryFailed === true || !isFailed(c)))
  const shardText = options.shard === undefined ? "" : ` shard ${options.shard.index}/${options.shard.count}: ${mine.length} cells,`
  yield* Effect.logInfo(
    `study ${study.name}: ${plan.length} cells (${study.arms.length} arms x ${study.seeds.length} seeds),${shardText} ${mine.length - pending.length} done, ${pending.length} to run`
  )
  const shared = yield* prepareShared(study, pending)
  const started = performance.now()
  const elapsed = () => (performance.now() - started) / 1000
  const records: Array<CellRecord> = yield* Effect.forEach(plan.filter(isDone), (c) => readCellRecord(c.recordPath))
  const eta = (remaining: ReadonlyArray<Cell>): string => {
    if (records.length === 0) return "ETA after the first cell"
    const estimates = estimateSeconds(study, plan, records, remaining, records[0]!.dataset.train)
    return `ETA ${formatDuration([...estimates.values()].reduce((a, e) => a + e.seconds, 0))}`
  }
  for (const [i, cell] of pending.entries()) {
    const name = `cell ${cell.index + 1}/${plan.length} ${cell.arm} seed ${cell.seed}`
    yield* Effect.logInfo(
      `study: ${name} started (${i + 1} of ${pending.length} in this run; elapsed ${formatDuration(elapsed())}, ${eta(pending.slice(i))})`
    )
    const record = yield* runCell(study, cell).pipe(
      Effect.map((r): CellRecord | FailedCell => r),
      Effect.catch((e) => (isMethodFailure(e) ? recordFailure(study, cell, e) : Effect.fail(e)))
    )
    if ("error" in record) {
      yield* Effect.logWarning(
        `study: ${name} failed (${record.error._tag}), recorded in ${cell.failurePath}; the study goes on: ${record.error.message}`
      )
      continue
    }
    // a retried cell that now finished is no longer failed
    yield* Effect.sync(() => rmSync(cell.failurePath, { force: true }))
    records.push(record)
    yield* Effect.logInfo(
      `study: ${name} finished in ${formatDuration(record.seconds["total"] ?? 0)}: ${scoreLine(record)} (elapsed ${formatDuration(elapsed())}, ${eta(pending.slice(i + 1))})`
    )
  }
  const { results, table } = yield* reportStudy(study)
  return { ran: pending.map((c) => c.index), shared, results, table } satisfies StudyRun
})
