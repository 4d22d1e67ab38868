import type { EpochLine, MetricsLine, ProbeLine, StepLine } from "@bingo/training"
import type { VegaLiteSpec } from "./vegaSvg.ts"

/**
 * Named numbers that BINGO's code form records among its loss terms (packages/losses/src/bingoLoss.ts:
 * the mix's lambda and the pair weights). They are weights, not losses: drawn in their own chart.
 */
export const lossWeightNames: ReadonlyArray<string> = ["lambda", "wSelf", "wCross"]

/** The training stages of a metrics file (step and epoch lines), in the order they first appear (pre-training before distillation). */
export const stagesOf = (metrics: ReadonlyArray<MetricsLine>): ReadonlyArray<string> => [
  ...new Set(metrics.flatMap((l) => (l.type === "probe" ? [] : [l.stage])))
]

/** One point of a curve: x is the stage's step (or epoch, when it has no step lines). */
export interface CurvePoint {
  readonly x: number
  readonly series: string
  readonly value: number
}

/** A stage's lines to draw: its step lines, or its epoch lines when `metricsEvery` left no step line. */
export const stageLines = (
  metrics: ReadonlyArray<MetricsLine>,
  stage: string
): { readonly unit: "step" | "epoch"; readonly lines: ReadonlyArray<StepLine | EpochLine> } => {
  const steps = metrics.filter((l): l is StepLine => l.type === "step" && l.stage === stage)
  return steps.length > 0
    ? { unit: "step", lines: steps }
    : { unit: "epoch", lines: metrics.filter((l): l is EpochLine => l.type === "epoch" && l.stage === stage) }
}

const xOf = (l: StepLine | EpochLine): number => (l.type === "step" ? l.globalStep : l.epoch + 1)

/** The stage's collapse value ln(Q + 1) (its last epoch line's), or null when its loss does not say. */
export const collapseValueOf = (metrics: ReadonlyArray<MetricsLine>, stage: string): number | null => {
  const epochs = metrics.filter((l): l is EpochLine => l.type === "epoch" && l.stage === stage && l.collapseValue !== null)
  return epochs.at(-1)?.collapseValue ?? null
}

const size = { width: 440, height: 220 } as const
const finite = (v: number) => Number.isFinite(v)

const lineChart = (
  title: string,
  subtitle: string,
  points: ReadonlyArray<CurvePoint>,
  xTitle: string,
  yTitle: string,
  extra: { readonly yDomain?: readonly [number, number]; readonly rule?: { readonly value: number; readonly label: string } } = {}
): VegaLiteSpec => ({
  $schema: "https://vega.github.io/schema/vega-lite/v6.json",
  title: { text: title, subtitle },
  ...size,
  layer: [
    {
      data: { values: points.filter((p) => finite(p.value)) },
      // a curve of a few points (a run of one or two epochs without step lines) shows them: a line of one point is invisible
      mark: { type: "line", strokeWidth: 1.5, point: new Set(points.map((p) => p.x)).size <= 3 },
      encoding: {
        x: { field: "x", type: "quantitative", title: xTitle },
        y: {
          field: "value",
          type: "quantitative",
          title: yTitle,
          scale: extra.yDomain === undefined ? { zero: false } : { domain: [...extra.yDomain] }
        },
        color: { field: "series", type: "nominal", sort: null, legend: { title: null, orient: "bottom", columns: 4, labelLimit: 200 } }
      }
    },
    ...(extra.rule === undefined
      ? []
      : [
          {
            data: { values: [{ value: extra.rule.value, label: extra.rule.label }] },
            layer: [
              { mark: { type: "rule", color: "#b22222", strokeDash: [6, 4] }, encoding: { y: { field: "value", type: "quantitative" } } },
              {
                mark: { type: "text", align: "right", baseline: "bottom", dy: -3, x: "width", color: "#b22222" },
                encoding: { y: { field: "value", type: "quantitative" }, text: { field: "label" } }
              }
            ]
          }
        ])
  ]
})

/**
 * A stage's loss curves: the total and each named term (unweighted) as its own line, and the
 * collapse value ln(Q + 1) (the loss when every logit is equal) as a dashed rule.
 */
export const lossChartSpec = (metrics: ReadonlyArray<MetricsLine>, stage: string): VegaLiteSpec => {
  const { unit, lines } = stageLines(metrics, stage)
  const points = lines.flatMap((l) => [
    { x: xOf(l), series: "total", value: l.loss },
    ...Object.entries(l.terms)
      .filter(([name]) => !lossWeightNames.includes(name))
      .map(([name, value]) => ({ x: xOf(l), series: name, value }))
  ])
  const collapse = collapseValueOf(metrics, stage)
  return lineChart(`${stage}: loss`, unit === "step" ? "total and each term, per logged step" : "epoch means", points, unit, "loss", {
    ...(collapse === null ? {} : { rule: { value: collapse, label: `collapse ln(Q + 1) = ${collapse.toFixed(3)}` } })
  })
}

/** A stage's loss weights (BINGO's lambda, wSelf, wCross), or undefined when its loss has none. */
export const lossWeightsChartSpec = (metrics: ReadonlyArray<MetricsLine>, stage: string): VegaLiteSpec | undefined => {
  const { unit, lines } = stageLines(metrics, stage)
  const points = lines.flatMap((l) =>
    Object.entries(l.terms)
      .filter(([name]) => lossWeightNames.includes(name))
      .map(([name, value]) => ({ x: xOf(l), series: name, value }))
  )
  return points.length === 0
    ? undefined
    : lineChart(`${stage}: loss weights`, "the mix's lambda and the pair weights", points, unit, "weight")
}

/** The learning rate of every stage, each against its own steps. */
export const lrChartSpec = (metrics: ReadonlyArray<MetricsLine>): VegaLiteSpec => {
  const stages = stagesOf(metrics)
  const perStage = stages.map((s) => stageLines(metrics, s))
  const points = stages.flatMap((s, i) => perStage[i]!.lines.map((l) => ({ x: xOf(l), series: s, value: l.lr })))
  const unit = perStage.every((p) => p.unit === "step") ? "step of its stage" : "step (or epoch) of its stage"
  return lineChart("learning rate", "warm-up, then cosine decay", points, unit, "lr")
}

/** The spread of each monitored network's L2-normalised embeddings (1 spread out, 0 collapsed), per stage. */
export const spreadChartSpec = (metrics: ReadonlyArray<MetricsLine>): VegaLiteSpec => {
  const stages = stagesOf(metrics)
  const points = stages.flatMap((s) =>
    stageLines(metrics, s).lines.flatMap((l) =>
      Object.entries(l.embeddings).map(([network, e]) => ({ x: xOf(l), series: `${s}: ${network}`, value: e.spread }))
    )
  )
  return lineChart("embedding spread", "1 spread out, 0 collapsed", points, "step of its stage", "spread", { yDomain: [0, 1] })
}

/** The linear probes' training loss per epoch, one line per evaluated network and probe; undefined without probe lines. */
export const probeChartSpec = (metrics: ReadonlyArray<MetricsLine>): VegaLiteSpec | undefined => {
  const probes = metrics.filter((l): l is ProbeLine => l.type === "probe")
  if (probes.length === 0) return undefined
  const points = probes.map((l) => ({
    x: l.epoch + 1,
    series: l.probe === "linear probe" ? l.model : `${l.model}, ${l.probe}`,
    value: l.loss
  }))
  return lineChart("linear probes: loss", "mean training cross-entropy per epoch, per evaluated network", points, "epoch", "loss")
}
