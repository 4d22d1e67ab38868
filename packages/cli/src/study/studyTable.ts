import { Effect } from "effect"
import { relative } from "node:path"
import { pairedDifferences, type PairedDifferences } from "./pairedDifferences.ts"
import { type Arm, baseMetrics, type ComparisonSide, type Study } from "./Study.ts"
import { type Cell, isDone, isFailed } from "./cellPlan.ts"
import { type CellRecord, type FailedCell, readCellRecord, readFailedCell } from "./CellRecord.ts"
import { type ArmRuns, type StudyRunTotals, studyRunTotals, summariseArmRuns } from "./armRuns.ts"
import { LossRegistry, planViews } from "@bingo/losses"
import { loadPlugins } from "../loadPlugins.ts"

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

/** A - B on one headline metric, for a pair of the study's `comparisons:` (see `pairedDifferences`). */
export interface StudyDifference extends PairedDifferences {
  /** The names as written in `comparisons:`. */
  readonly a: string
  readonly b: string
  readonly metric: string
}

export interface StudyResults {
  readonly study: string
  /** The columns: the headline metrics, then every other metric some cell reported. */
  readonly metrics: ReadonlyArray<string>
  readonly headline: ReadonlyArray<string>
  readonly rows: ReadonlyArray<StudyRow>
  /** For each of the study's comparisons, then each headline metric: A - B paired by seed. */
  readonly differences: ReadonlyArray<StudyDifference>
  /** How each arm's finished cells ran (bags and purity, losses, time, memory, commits). */
  readonly runs: ReadonlyArray<ArmRuns>
  /** Every finished cell together. */
  readonly totals: StudyRunTotals
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

/** seed -> score of one side of a comparison on `metric`, from the records that have it. */
const seedScores = (side: ComparisonSide, metric: string, records: ReadonlyArray<CellRecord>): ReadonlyMap<number, number> =>
  new Map(
    records.flatMap((r) => {
      if (r.arm !== side.arm) return []
      const value = (side.kind === "arm" ? r.scores : r.baselines.randomInit)?.[metric]
      return value === undefined ? [] : [[r.seed, value] as const]
    })
  )

/**
 * The table of a study from the cell records that exist (`records`, in plan order): one row per
 * arm over its finished seeds, then the random student (one row per student architecture, over
 * seeds), the teacher and the random teacher (one evaluation each).
 */
export const summariseStudy = (
  study: Study,
  cells: ReadonlyArray<Cell>,
  records: ReadonlyArray<CellRecord>,
  failures: ReadonlyArray<FailedCell> = [],
  readsBags: (arm: Arm) => boolean | undefined = () => undefined
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
    differences: study.comparisons.flatMap(({ a, b }) =>
      study.headline.map(
        (metric): StudyDifference => ({
          a: a.label,
          b: b.label,
          metric,
          ...pairedDifferences(seedScores(a, metric, records), seedScores(b, metric, records))
        })
      )
    ),
    runs: summariseArmRuns(study.arms, records, readsBags),
    totals: studyRunTotals(records),
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

/**
 * Whether each arm's loss reads a bag positive (its views include the positive), by arm name,
 * from the builtin losses and the base config's plugins; an arm whose loss cannot be resolved
 * (a plugin that fails to load) is left out: the table then shows its bags.
 */
const bagReaders = (study: Study): Effect.Effect<ReadonlyMap<string, boolean>> =>
  Effect.gen(function* () {
    const plugins = yield* loadPlugins(study.base.config.plugins, study.base.dir).pipe(Effect.orElseSucceed(() => []))
    const registry = yield* LossRegistry.build(plugins).pipe(Effect.orElseSucceed(() => LossRegistry.make()))
    const entries = yield* Effect.forEach(study.arms, (arm) =>
      registry.resolve(arm.config.distill.loss.name, arm.config.distill.loss.options).pipe(
        Effect.map((loss) => [[arm.name, planViews(loss.needs).positive] as const]),
        Effect.orElseSucceed(() => [])
      )
    )
    return new Map(entries.flat())
  })

/** Read every cell.json that exists and summarise them. */
export const mergeCells = Effect.fn("mergeCells")(function* (study: Study, cells: ReadonlyArray<Cell>) {
  const records = yield* Effect.forEach(cells.filter(isDone), (c) => readCellRecord(c.recordPath))
  const failures = yield* Effect.forEach(cells.filter(isFailed), (c) => readFailedCell(c.failurePath))
  const readers = yield* bagReaders(study)
  return summariseStudy(study, cells, records, failures, (arm) => readers.get(arm.name))
})

/** A markdown table, columns padded to their widest cell. */
const markdownTable = (header: ReadonlyArray<string>, body: ReadonlyArray<ReadonlyArray<string>>): ReadonlyArray<string> => {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)))
  const line = (cells: ReadonlyArray<string>) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...body.map(line)]
}

/** A difference in points with its sign, one decimal: `+1.2`, `-0.3` (`-0.0` for a small negative one). */
export const formatSigned = (x: number): string => {
  const text = (100 * x).toFixed(1)
  return text.startsWith("-") ? text : `+${text}`
}

const points = (x: number | undefined): string => (x === undefined ? "–" : (100 * x).toFixed(1))
const flag = (x: boolean | undefined): string => (x === undefined ? "–" : x ? "yes" : "no")

/** What results.md says above the differences: the columns and the two flags. */
export const differencesText = [
  "For each pair A - B of the study's `comparisons:` and each headline metric, over the seeds both A and B finished",
  "(listed; n of them): d = mean(A) - mean(B) in points; s_d = sample std of the per-seed differences A_s - B_s",
  "(n - 1 in the denominator). A seed gives every arm the same student initialisation, data order and augmentations,",
  "so pairing by seed removes the variance the arms share. **paired**: yes when |d| > 2 s_d. **unpaired**: yes when",
  "|d| > 2 √(s_A² + s_B²), s_A and s_B the sample stds of A and B over the same seeds (the spread of one A run minus",
  "one B run if they shared nothing; s_d² = s_A² + s_B² - 2 cov(A, B)). With n < 2 the stds are – and there is no",
  "flag. With n = 3 a two-std rule is a coarse screen for differences worth a look, not a significance test: it gives",
  "no p-value, and 2 s_d is the spread of one seed's difference, not the standard error of d (s_d / √n)."
].join("\n")

/** The columns of a differences table (results.md and report.html). */
export const differencesHeader = ["A - B", "seeds", "n", "d", "s_d", "paired", "√(s_A² + s_B²)", "unpaired"]

/** The rows of the differences table of one headline metric, as text (results.md and report.html). */
export const differenceRows = (results: StudyResults, metric: string): Array<Array<string>> =>
  results.differences
    .filter((d) => d.metric === metric)
    .map((d) => [
      `${d.a} - ${d.b}`,
      d.n === 0 ? "none" : d.seeds.join(", "),
      String(d.n),
      d.d === undefined ? "–" : formatSigned(d.d),
      points(d.sd),
      flag(d.paired),
      points(d.unpairedStd),
      flag(d.unpaired)
    ])

/** The "Differences" section of results.md: the paragraph, then one table per headline metric. */
export const formatDifferences = (results: StudyResults): ReadonlyArray<string> => {
  if (results.differences.length === 0) return []
  return [
    "",
    "## Differences",
    "",
    differencesText,
    ...results.headline.flatMap((metric) => [
      "",
      `### ${metricLabel(metric)}`,
      "",
      ...markdownTable(differencesHeader, differenceRows(results, metric))
    ])
  ]
}

/** What results.md says above the runs table. */
export const runsText = [
  "Per arm, from its finished cells' files: the bags its loss reads (none: its loss reads no bag positive) and their purity",
  "(bag members sharing their anchor's class; mean over the cells), the mean distillation loss of the first and the last",
  "epoch (mean over the cells), the wall-clock minutes of a cell (mean, then min-max: distillation and every evaluation",
  "the cell runs), the largest peak RSS of the processes that ran them, the native thread counts they computed with (float",
  "results depend on the count; – where the cells predate its record), and the commits that ran them."
].join("\n")

/** The columns of the runs table (results.md and report.html). */
export const runsHeader = [
  "arm",
  "cells",
  "bags",
  "purity %",
  "loss first → last epoch",
  "minutes per cell",
  "peak RSS MiB",
  "threads",
  "commits"
]

/** `2`, `1, 2`, `2; 1 unrecorded`, or – when no cell recorded a count. */
const threadsText = (t: ArmRuns["threads"]): string =>
  t.counts.length === 0 ? "–" : `${t.counts.join(", ")}${t.unrecorded > 0 ? `; ${t.unrecorded} unrecorded` : ""}`

const minutes = (s: number): string => (s / 60).toFixed(1)

/** The rows of the runs table, as text. */
export const runRows = (results: StudyResults): Array<Array<string>> =>
  results.runs.map((r) => [
    r.arm,
    String(r.cells),
    r.bags ?? "none",
    r.purity === undefined ? "–" : (100 * r.purity).toFixed(1),
    r.firstLoss === undefined || r.lastLoss === undefined ? "–" : `${r.firstLoss.toFixed(3)} → ${r.lastLoss.toFixed(3)}`,
    r.seconds === undefined ? "–" : `${minutes(r.seconds.mean)} (${minutes(r.seconds.min)}-${minutes(r.seconds.max)})`,
    r.peakRssMiB === undefined ? "–" : String(r.peakRssMiB),
    threadsText(r.threads),
    r.commits.join(", ") || "–"
  ])

/** The line under the runs table: every finished cell's time together, when they finished, on which backends. */
export const runTotalsLine = (results: StudyResults): string => {
  const t = results.totals
  if (t.cells === 0) return "No cell has finished."
  const whole = Math.round(t.seconds / 60)
  const backends = [...new Set(results.runs.flatMap((r) => r.backends))].join(", ")
  return `${t.cells} finished cells: ${Math.floor(whole / 60)} h ${String(whole % 60).padStart(2, "0")} min of wall-clock in all (the sum of the cells' times; the shared teacher and bags, made before the first cell, not included), finished between ${t.firstFinished} and ${t.lastFinished}; backend ${backends}.`
}

/** The "Runs" section of results.md. */
export const formatRuns = (results: StudyResults): ReadonlyArray<string> => [
  "",
  "## Runs",
  "",
  runsText,
  "",
  ...markdownTable(runsHeader, runRows(results)),
  "",
  runTotalsLine(results)
]

/**
 * The study's results as markdown: a line saying how many cells finished, the table (one row
 * per arm and baseline, `mean ± sample std (n)` in percent per metric), the differences of the
 * study's comparisons (`formatDifferences`), how the cells ran (`formatRuns`), and the missing and failed cells.
 */
export const formatStudyTable = (results: StudyResults, outDir: string): string => {
  const header = ["arm", ...results.metrics.map(metricLabel)]
  const body = results.rows.map((r) => [
    r.label,
    ...results.metrics.map((m) => (r.metrics[m] === undefined ? "–" : formatSummary(r.metrics[m])))
  ])
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
    ...markdownTable(header, body),
    ...formatDifferences(results),
    ...formatRuns(results),
    ...missing,
    ...failed
  ].join("\n")}\n`
}
