import type { EvaluationScores } from "./evaluateEncoder.ts"

export interface ReportRow {
  readonly model: string
  readonly backbone: string
  readonly params: number
  readonly scores: EvaluationScores
}

const pct = (x: number) => `${(100 * x).toFixed(1)}`

/** `labels1pctTop1` -> "labels 1% top-1": the column of a semi-supervised probe. */
const SEMI_TOP1 = /^labels(.+)pctTop1$/
const isSemiTop1 = (key: string): key is `labels${string}pctTop1` => SEMI_TOP1.test(key)

/**
 * The results table printed at the end of a run (accuracies in %). Semi-supervised top-1
 * scores (`labels1pctTop1`, ...) get a column each when a row has them ("-" in rows without).
 */
export const formatResultsTable = (rows: ReadonlyArray<ReportRow>, chance: number): string => {
  const semi = [...new Set(rows.flatMap((r) => Object.keys(r.scores).filter(isSemiTop1)))]
  const header = [
    "model",
    "backbone",
    "params",
    "kNN top-1",
    "linear top-1",
    "linear top-5",
    ...semi.map((k) => `labels ${SEMI_TOP1.exec(k)![1]}% top-1`)
  ]
  const body = rows.map((r) => [
    r.model,
    r.backbone,
    r.params.toLocaleString("en-US"),
    pct(r.scores.knnTop1),
    pct(r.scores.linearTop1),
    pct(r.scores.linearTop5),
    ...semi.map((k) => (r.scores[k] === undefined ? "-" : pct(r.scores[k])))
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)))
  const line = (cells: ReadonlyArray<string>) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...body.map(line), `chance: ${pct(chance)}%`].join("\n")
}
