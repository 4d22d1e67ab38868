import { existsSync } from "node:fs"
import { join, relative } from "node:path"
import { chartFigure, escapeHtml, htmlTable, reportPage } from "../report/html.ts"
import type { Cell } from "./cellPlan.ts"
import type { Study } from "./Study.ts"
import {
  differenceRows,
  differencesHeader,
  differencesText,
  formatSummary,
  metricLabel,
  runRows,
  runsHeader,
  runsText,
  runTotalsLine,
  type StudyResults
} from "./studyTable.ts"

/** A relative link from the study's outDir (the page's folder), each path segment escaped. */
const href = (outDir: string, path: string): string =>
  relative(outDir, path)
    .split("/")
    .map((s) => encodeURIComponent(s))
    .join("/")

/**
 * `<outDir>/report.html` of a study: the table of results.md (mean ± sample std (n) per arm and
 * baseline), a bar chart per headline metric (`charts`: the SVGs of `<metric>.svg`, inline), and every
 * cell with its status (finished, failed with its error, not run yet) and links to its folder
 * and, when there is one, its own report.html; with `comparisons:`, the differences of results.md
 * (one table per headline metric); how each arm's cells ran (bags and purity, losses, minutes, memory,
 * commits). Self-contained like a run's report.
 */
export const studyReportHtml = (
  study: Study,
  results: StudyResults,
  cells: ReadonlyArray<Cell>,
  charts: ReadonlyArray<{ readonly metric: string; readonly svg: string }>
): string => {
  const table = htmlTable(
    ["arm", ...results.metrics.map(metricLabel)],
    results.rows.map((r) => [
      escapeHtml(r.label),
      ...results.metrics.map((m) => (r.metrics[m] === undefined ? "–" : escapeHtml(formatSummary(r.metrics[m]))))
    ]),
    results.metrics.map((_, i) => i + 1)
  )
  const failed = new Map(results.failed.map((f) => [f.index, f.error]))
  const missing = new Set(results.missing.map((m) => m.index))
  const cellRows = cells.map((c) => {
    const status = failed.has(c.index)
      ? `<span class="warning">failed: ${escapeHtml(failed.get(c.index)!)}</span>`
      : missing.has(c.index)
        ? "not run yet"
        : "finished"
    const report = join(c.dir, "report.html")
    return [
      String(c.index + 1),
      escapeHtml(c.arm),
      String(c.seed),
      status,
      `<a href="${href(study.outDir, c.dir)}/">${escapeHtml(relative(study.outDir, c.dir))}</a>${
        existsSync(report) ? ` (<a href="${href(study.outDir, report)}">report</a>)` : ""
      }`
    ]
  })
  return reportPage(`bingo study: ${study.name}`, `${results.finished} of ${results.cells} cells finished`, [
    {
      id: "results",
      title: "Results",
      body: `<p class="note">Accuracy in %: mean ± sample std (n = seeds) over the finished cells (results.md holds the same table).</p>${table}<div class="charts">${charts.map((c) => chartFigure(`bars-${c.metric}`, c.svg)).join("")}</div>`
    },
    ...(results.differences.length === 0
      ? []
      : [
          {
            id: "differences",
            title: "Differences",
            body: `<p class="note">${escapeHtml(differencesText.replace(/\*\*|`/g, ""))}</p>${results.headline
              .map(
                (metric) =>
                  `<h3>${escapeHtml(metricLabel(metric))}</h3>${htmlTable(
                    differencesHeader,
                    differenceRows(results, metric).map((row) => row.map(escapeHtml)),
                    [2, 3, 4, 6]
                  )}`
              )
              .join("")}`
          }
        ]),
    {
      id: "runs",
      title: "Runs",
      body: `<p class="note">${escapeHtml(runsText)}</p>${htmlTable(
        runsHeader,
        runRows(results).map((row) => row.map(escapeHtml)),
        [1, 3, 6]
      )}<p>${escapeHtml(runTotalsLine(results))}</p>`
    },
    { id: "cells", title: "Cells", body: htmlTable(["#", "arm", "seed", "status", "folder"], cellRows, [0, 2]) }
  ])
}
