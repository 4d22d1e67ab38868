import { Effect } from "effect"
import type { MetricsLine } from "@bingo/training"
import { chartFigure, escapeHtml, type ReportSection } from "./html.ts"
import { lossChartSpec, lossWeightsChartSpec, lrChartSpec, probeChartSpec, spreadChartSpec, stagesOf } from "./runCharts.ts"
import { vegaLiteSvg } from "./vegaSvg.ts"

const slug = (s: string) => s.replace(/[^A-Za-z0-9]+/g, "-").replace(/^-|-$/g, "")

/** Stage A: per stage its loss curves (and loss weights), then the lr and the embedding spread of every stage. */
export const trainingSection = Effect.fn("trainingSection")(function* (metrics: ReadonlyArray<MetricsLine>) {
  if (metrics.length === 0)
    return {
      id: "training",
      title: "Training",
      body: '<p class="note">No metrics.jsonl in this folder (runs made before bingo wrote it): no training curves.</p>'
    } satisfies ReportSection
  const figures: Array<string> = []
  for (const stage of stagesOf(metrics)) {
    figures.push(
      chartFigure(
        `loss-${slug(stage)}`,
        yield* vegaLiteSvg(lossChartSpec(metrics, stage)),
        `${escapeHtml(stage)}: the step's total loss and each named term (unweighted; docs/metrics.md). The dashed rule is the loss when every logit is equal: a curve that climbs to it has collapsed.`
      )
    )
    const weights = lossWeightsChartSpec(metrics, stage)
    if (weights !== undefined) figures.push(chartFigure(`weights-${slug(stage)}`, yield* vegaLiteSvg(weights)))
  }
  figures.push(chartFigure("lr", yield* vegaLiteSvg(lrChartSpec(metrics)), "The rate each step used (per-256 scaling applied)."))
  figures.push(
    chartFigure(
      "spread",
      yield* vegaLiteSvg(spreadChartSpec(metrics)),
      "Spread of each watched network's L2-normalised embeddings across the batch, sqrt(1 - |mean|²); training stops when the trained network's stays near 0 (docs/errors.md)."
    )
  )
  const probes = probeChartSpec(metrics)
  if (probes !== undefined) {
    figures.push(
      chartFigure(
        "probe-loss",
        yield* vegaLiteSvg(probes),
        "The evaluation's linear probes: each network's probe training loss per epoch (a non-finite one stops the run: LinearProbeDiverged)."
      )
    )
  }
  const steps = metrics.filter((l) => l.type === "step").length
  const epochs = metrics.filter((l) => l.type === "epoch").length
  return {
    id: "training",
    title: "Training",
    body: `<p class="note">From metrics.jsonl: ${steps} step lines and ${epochs} epoch lines.</p><div class="charts">${figures.join("")}</div>`
  } satisfies ReportSection
})
