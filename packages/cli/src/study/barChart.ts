import type { Effect } from "effect"
import { metricLabel, type StudyResults } from "./studyTable.ts"
import { vegaLiteSvg } from "../report/vegaSvg.ts"

/** One bar: a mean and its ±1 std error bar, in percent. */
export interface Bar {
  readonly label: string
  readonly kind: "arm" | "baseline"
  readonly mean: number
  /** Undefined for a single seed: no error bar. */
  readonly std: number | undefined
  readonly n: number
}

/** The bars of one metric: every row of the table that has it, in table order. */
export const barsOf = (results: StudyResults, metric: string): ReadonlyArray<Bar> =>
  results.rows.flatMap((r) => {
    const s = r.metrics[metric]
    return s === undefined
      ? []
      : [{ label: r.label, kind: r.kind, mean: 100 * s.mean, std: s.std === undefined ? undefined : 100 * s.std, n: s.n }]
  })

/**
 * A Vega-Lite bar chart of one metric: a bar per arm (baselines in grey), an error bar of ±1
 * sample std over seeds, labelled axes. Rendered to SVG by Vega in Node (no browser, no canvas).
 */
export const barChartSpec = (title: string, metric: string, bars: ReadonlyArray<Bar>) => ({
  $schema: "https://vega.github.io/schema/vega-lite/v6.json",
  title: { text: title, subtitle: "mean ± 1 sample std over seeds (n in the axis label)" },
  width: { step: 48 },
  height: 240,
  data: {
    values: bars.map((b) => ({
      bar: `${b.label} (n=${b.n})`,
      kind: b.kind,
      mean: b.mean,
      low: b.mean - (b.std ?? 0),
      high: b.mean + (b.std ?? 0)
    }))
  },
  encoding: {
    x: { field: "bar", type: "nominal", sort: null, title: "arm", axis: { labelAngle: -30 } }
  },
  layer: [
    {
      mark: "bar",
      encoding: {
        y: { field: "mean", type: "quantitative", title: `${metricLabel(metric)} (%)`, scale: { zero: true } },
        color: {
          field: "kind",
          type: "nominal",
          scale: { domain: ["arm", "baseline"], range: ["#4c78a8", "#bab0ac"] },
          legend: { title: null }
        }
      }
    },
    {
      mark: { type: "rule", color: "black" },
      encoding: { y: { field: "low", type: "quantitative" }, y2: { field: "high" } }
    }
  ]
})

/** The SVG text of `barChartSpec`. */
export const barChartSvg = (title: string, metric: string, bars: ReadonlyArray<Bar>): Effect.Effect<string> =>
  vegaLiteSvg(barChartSpec(title, metric, bars))
