import { stringify } from "yaml"
import type { PipelineConfig } from "../PipelineConfig.ts"
import type { PipelineResult } from "../runPipeline.ts"
import { escapeHtml, factsTable, htmlTable, type ReportSection } from "./html.ts"

const pct = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? "–" : (100 * x).toFixed(1))

/** `labels1pctTop1` -> "labels 1% top-1". */
const semiLabel = (key: string) => key.replace(/^labels(.+)pctTop(\d)$/, "labels $1% top-$2")

/** The results table of results.json (accuracies in %), bag purity, the chance level and the warnings. */
export const resultsSection = (results: PipelineResult | undefined): ReportSection => {
  if (results === undefined)
    return {
      id: "results",
      title: "Results",
      body: '<p class="note">No results.json: the run has not finished (or it stopped with an error). The curves above are what it logged.</p>'
    }
  const semi = [...new Set(results.rows.flatMap((r) => Object.keys(r.scores).filter((k) => /^labels.+pctTop\d$/.test(k))))].sort()
  const header = ["model", "backbone", "params", "kNN top-1", "kNN top-5", "linear top-1", "linear top-5", ...semi.map(semiLabel)]
  const rows = results.rows.map((r) => [
    escapeHtml(r.model),
    escapeHtml(r.backbone),
    r.params.toLocaleString("en-US"),
    pct(r.scores.knnTop1),
    pct(r.scores.knnTop5),
    pct(r.scores.linearTop1),
    pct(r.scores.linearTop5),
    ...semi.map((k) => pct(r.scores[k as `labels${string}pctTop1`]))
  ])
  const table =
    results.evaluationSkipped === undefined
      ? `${htmlTable(
          header,
          rows,
          header.map((_, i) => i).filter((i) => i >= 2)
        )}<p>Accuracy in % on the ${results.dataset.test.toLocaleString("en-US")} test images; chance ${pct(results.chance)}%.</p>`
      : `<p class="note">Evaluation skipped: ${escapeHtml(results.evaluationSkipped)}.</p>`
  const purity =
    results.bagPurity === null
      ? ""
      : `<p>Bag purity (bag members sharing their anchor's label): <strong>${pct(results.bagPurity)}%</strong>.</p>`
  const warnings = results.warnings.map((w) => `<p class="warning">warning: ${escapeHtml(w)}</p>`).join("")
  return { id: "results", title: "Results", body: `${table}${purity}${warnings}` }
}

const seconds = (s: number) => (s >= 60 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${s.toFixed(1)} s`)

/** Backend, data, stage times and peak RSS from results.json; the decoded config from config.json. */
export const runSection = (results: PipelineResult | undefined, config: PipelineConfig | undefined): ReportSection => {
  const facts =
    results === undefined
      ? ""
      : factsTable([
          ["backend", escapeHtml(results.backend)],
          [
            "dataset",
            `${escapeHtml(results.dataset.name)}: ${results.dataset.train.toLocaleString("en-US")} train / ${results.dataset.test.toLocaleString("en-US")} test images`
          ],
          ["data + teacher", seconds(results.seconds.teacher)],
          ["bags", seconds(results.seconds.bags)],
          ["distillation", seconds(results.seconds.distill)],
          ["evaluation", seconds(results.seconds.eval)],
          ["total", seconds(results.seconds.total)],
          ["peak RSS", `${results.peakRssMiB.toLocaleString("en-US")} MiB`]
        ])
  const configText =
    config === undefined
      ? '<p class="note">No config.json in this folder (runs made before bingo wrote it).</p>'
      : `<h3>Config</h3><p class="note">config.json: the decoded config, every default filled in; paths relative to this folder.</p><pre>${escapeHtml(stringify(config))}</pre>`
  return { id: "run", title: "Run", body: `${facts}${configText}` }
}
