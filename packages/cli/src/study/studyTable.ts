import { Effect } from "effect"
import { relative } from "node:path"
import { baseMetrics, type Study } from "./Study.ts"
import { type Cell, isDone, isFailed } from "./cellPlan.ts"
import { type CellRecord, type FailedCell, readCellRecord, readFailedCell } from "./CellRecord.ts"

/** Mean and sample standard deviation of one metric over seeds. */
export interface MetricSummary {
  readonly mean: number
  /** sqrt(sum (x - mean)^2 / (n - 1)); undefined for n = 1. */
  readonly std: number | undefined
  readonly n: number
  readonly values: ReadonlyArray<number>
}

/** One row of the table: an arm, or a baseline (random student, teacher). */
export interface StudyRow {
  readonly label: string
  readonly kind: "arm" | "baseline"
  /** By metric name; a metric no finished cell of the row reported is absent. */
  readonly metrics: Readonly<Record<string, MetricSummary>>
}

export interface StudyResults {
  readonly study: string
  /** The columns: the headline metrics, then every other metric some cell reported. */
  readonly metrics: ReadonlyArray<string>
  readonly headline: ReadonlyArray<string>
  readonly rows: ReadonlyArray<StudyRow>
  readonly cells: number
  readonly finished: number
  /** The cells with neither a cell.json nor a failed.json, in plan order. */
  readonly missing: ReadonlyArray<{ readonly index: number; readonly arm: string; readonly seed: number; readonly dir: string }>
  /** The cells whose training collapsed or diverged (failed.json), with the error. */
  readonly failed: ReadonlyArray<{
    readonly index: number
    readonly arm: string
    readonly seed: number
    readonly dir: string
    readonly error: string
  }>
}

/** Mean and sample std (n - 1 in the denominator) of `values` (at least one). */
export const summarise = (values: ReadonlyArray<number>): MetricSummary => {
  const n = values.length
  if (n === 0) throw new RangeError("summarise needs at least one value")
  const mean = values.reduce((a, x) => a + x, 0) / n
  const std = n > 1 ? Math.sqrt(values.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1)) : undefined
  return { mean, std, n, values }
}

/** `48.7 ± 1.2 (3)`: percent, one decimal; `48.7 ± – (1)` for one seed. */
export const formatSummary = (s: MetricSummary): string =>
  `${(100 * s.mean).toFixed(1)} ± ${s.std === undefined ? "–" : (100 * s.std).toFixed(1)} (${s.n})`

/** A metric's column title: `knnTop1` -> "kNN top-1", `labels1pctTop1` -> "labels 1% top-1". */
export const metricLabel = (metric: string): string => {
  const m = /^(knn|linear|labels(.+)pct)Top(\d+)$/.exec(metric)
  if (m === null) return metric
  const what = m[1] === "knn" ? "kNN" : m[1] === "linear" ? "linear" : `labels ${m[2]}%`
  return `${what} top-${m[3]}`
}

const summariseRow = (label: string, kind: StudyRow["kind"], scores: ReadonlyArray<Readonly<Record<string, number>>>): StudyRow => {
  const metrics: Record<string, MetricSummary> = {}
  for (const name of new Set(scores.flatMap((s) => Object.keys(s)))) {
    const values = scores.flatMap((s) => (s[name] === undefined ? [] : [s[name]]))
    metrics[name] = summarise(values)
  }
  return { label, kind, metrics }
}

/**
 * The table of a study from the cell records that exist (`records`, in plan order): one row per
 * arm over its finished seeds, then the random student (one row per student architecture, over
 * seeds), the teacher and the random teacher (one evaluation each).
 */
export const summariseStudy = (
  study: Study,
  cells: ReadonlyArray<Cell>,
  records: ReadonlyArray<CellRecord>,
  failures: ReadonlyArray<FailedCell> = []
): StudyResults => {
  const failedIn = (arm: string) => failures.filter((f) => f.arm === arm).length
  const rows: Array<StudyRow> = study.arms.map((arm) =>
    summariseRow(
      failedIn(arm.name) === 0 ? arm.name : `${arm.name} (${failedIn(arm.name)} failed)`,
      "arm",
      records.flatMap((r) => (r.arm === arm.name && r.scores !== null ? [r.scores] : []))
    )
  )
  const randomArms = [...new Set(records.flatMap((r) => (r.baselines.randomInit === undefined ? [] : [r.arm])))]
  for (const arm of randomArms) {
    const label = randomArms.length === 1 ? "random init" : `random init (${arm} student)`
    rows.push(
      summariseRow(
        label,
        "baseline",
        records.flatMap((r) => (r.arm === arm && r.baselines.randomInit !== undefined ? [r.baselines.randomInit] : []))
      )
    )
  }
  for (const [key, label] of [
    ["teacher", "teacher"],
    ["randomTeacher", "teacher (random init)"]
  ] as const) {
    const scores = records.flatMap((r) => (r.baselines[key] === undefined ? [] : [r.baselines[key]]))
    if (scores.length > 0) rows.push(summariseRow(label, "baseline", scores))
  }
  const reported = new Set(rows.flatMap((r) => Object.keys(r.metrics)))
  const others = [...new Set([...baseMetrics, ...reported])].filter((m) => reported.has(m) && !study.headline.includes(m))
  const done = new Set(records.map((r) => r.index))
  const failed = new Map(failures.filter((f) => !done.has(f.index)).map((f) => [f.index, f]))
  return {
    study: study.name,
    metrics: [...study.headline, ...others],
    headline: study.headline,
    rows,
    cells: cells.length,
    finished: done.size,
    missing: cells
      .filter((c) => !done.has(c.index) && !failed.has(c.index))
      .map((c) => ({ index: c.index, arm: c.arm, seed: c.seed, dir: c.dir })),
    failed: cells.flatMap((c) => {
      const f = failed.get(c.index)
      return f === undefined ? [] : [{ index: c.index, arm: c.arm, seed: c.seed, dir: c.dir, error: `${f.error._tag}: ${f.error.message}` }]
    })
  }
}

/** Read every cell.json that exists and summarise them. */
export const mergeCells = Effect.fn("mergeCells")(function* (study: Study, cells: ReadonlyArray<Cell>) {
  const records = yield* Effect.forEach(cells.filter(isDone), (c) => readCellRecord(c.recordPath))
  const failures = yield* Effect.forEach(cells.filter(isFailed), (c) => readFailedCell(c.failurePath))
  return summariseStudy(study, cells, records, failures)
})

/**
 * The study's results as markdown: a line saying how many cells finished, the table (one row
 * per arm and baseline, `mean ± sample std (n)` in percent per metric) and the missing cells.
 */
export const formatStudyTable = (results: StudyResults, outDir: string): string => {
  const header = ["arm", ...results.metrics.map(metricLabel)]
  const body = results.rows.map((r) => [
    r.label,
    ...results.metrics.map((m) => (r.metrics[m] === undefined ? "–" : formatSummary(r.metrics[m])))
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)))
  const line = (cells: ReadonlyArray<string>) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`
  const missing =
    results.missing.length === 0
      ? []
      : [
          "",
          `Missing cells (${results.missing.length}): ${results.missing.map((c) => `${c.arm} seed ${c.seed} (${relative(outDir, c.dir)})`).join(", ")}`
        ]
  const failed =
    results.failed.length === 0
      ? []
      : [
          "",
          `Failed cells (${results.failed.length}; training collapsed or diverged, so they have no scores; \`bingo study --retry-failed\` runs them again):`,
          ...results.failed.map((c) => `- ${c.arm} seed ${c.seed} (${relative(outDir, c.dir)}): ${c.error}`)
        ]
  return `${[
    `# Study ${results.study}`,
    "",
    `${results.finished} of ${results.cells} cells finished. Accuracy in %: mean ± sample std (n = seeds) over the finished cells.`,
    "",
    line(header),
    `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`,
    ...body.map(line),
    ...missing,
    ...failed
  ].join("\n")}\n`
}
