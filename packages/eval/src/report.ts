import type { EvaluationScores } from "./evaluateEncoder.ts"

export interface ReportRow {
  readonly model: string
  readonly backbone: string
  readonly params: number
  readonly scores: EvaluationScores
}

const pct = (x: number) => `${(100 * x).toFixed(1)}`

/** The results table printed at the end of a run (accuracies in %). */
export const formatResultsTable = (rows: ReadonlyArray<ReportRow>, chance: number): string => {
  const header = ["model", "backbone", "params", "kNN top-1", "linear top-1", "linear top-5"]
  const body = rows.map((r) => [r.model, r.backbone, r.params.toLocaleString("en-US"), pct(r.scores.knnTop1), pct(r.scores.linearTop1), pct(r.scores.linearTop5)])
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)))
  const line = (cells: ReadonlyArray<string>) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...body.map(line), `chance: ${pct(chance)}%`].join("\n")
}
