import { Effect } from "effect"
import { UMAP } from "umap-js"
import { Rng } from "@bingo/runtime"
import type { VegaLiteSpec } from "./vegaSvg.ts"

/** Points mapped at most: above it, a seeded subsample (UMAP's time grows with the points). */
export const mapPointsMax = 5000

/** Which rows a map draws: all of them, or `max` of them drawn with `seed` (sorted). */
export const mapSubsample = (n: number, max: number, seed: number): Int32Array =>
  n <= max ? Int32Array.from({ length: n }, (_, i) => i) : Rng.fromSeed(seed).permutation(n).subarray(0, max).sort()

/**
 * A 2-D UMAP embedding (umap-js, 15 neighbours, min distance 0.1, its random numbers from `seed`)
 * of the rows `rows` of an N x dim feature matrix, each row L2-normalised first (the cosine
 * geometry the kNN classifier and the bag miner use). Returns [x, y] per row, in `rows` order.
 */
export const umap2d = (features: Float32Array, dim: number, rows: Int32Array, seed: number): Effect.Effect<Array<[number, number]>> =>
  Effect.sync(() => {
    const data = Array.from(rows, (i) => {
      const row = Array.from(features.subarray(i * dim, (i + 1) * dim))
      const norm = Math.sqrt(row.reduce((a, v) => a + v * v, 0)) || 1
      return row.map((v) => v / norm)
    })
    const rng = Rng.fromSeed(seed)
    const umap = new UMAP({
      nComponents: 2,
      nNeighbors: Math.max(2, Math.min(15, data.length - 1)),
      minDist: 0.1,
      random: () => rng.next()
    })
    return umap.fit(data).map(([x, y]) => [x!, y!] as [number, number])
  })

/** A scatter plot of a 2-D map, one colour per class of `classes` (no axes: UMAP's coordinates mean nothing). */
export const mapChartSpec = (
  title: string,
  subtitle: string,
  points: ReadonlyArray<{ readonly x: number; readonly y: number; readonly label: string }>,
  classes: ReadonlyArray<string>
): VegaLiteSpec => ({
  $schema: "https://vega.github.io/schema/vega-lite/v6.json",
  title: { text: title, subtitle },
  width: 300,
  height: 300,
  data: { values: points },
  mark: { type: "circle", size: 14, opacity: 0.8 },
  encoding: {
    x: { field: "x", type: "quantitative", axis: null, scale: { zero: false } },
    y: { field: "y", type: "quantitative", axis: null, scale: { zero: false } },
    // the classes in label order, so a class has the same colour in every map
    color: {
      field: "label",
      type: "nominal",
      title: "class",
      scale: { domain: [...classes], scheme: classes.length <= 10 ? "tableau10" : "category20" },
      legend: { labelLimit: 160 }
    }
  },
  config: { view: { stroke: "#ddd" } }
})

/** counts[t][p]: test images of true class t the probe put in class p. */
export const confusionMatrix = (labels: Int32Array, predictions: Int32Array, numClasses: number): Array<Array<number>> => {
  const counts = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0))
  for (let i = 0; i < predictions.length; i++) counts[labels[i]!]![predictions[i]!]!++
  return counts
}

/** A heatmap of a confusion matrix: rows the true class, columns the predicted one, shade the row's fraction, the count written in (up to 20 classes). */
export const confusionChartSpec = (
  title: string,
  counts: ReadonlyArray<ReadonlyArray<number>>,
  names: ReadonlyArray<string>
): VegaLiteSpec => {
  const cells = counts.flatMap((row, t) => {
    const total = row.reduce((a, c) => a + c, 0)
    return row.map((count, p) => ({ truth: names[t]!, predicted: names[p]!, count, fraction: total === 0 ? 0 : count / total }))
  })
  const cell = names.length <= 20 ? 24 : Math.max(6, Math.floor(480 / names.length))
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: title, subtitle: "linear probe, test images" },
    width: { step: cell },
    height: { step: cell },
    data: { values: cells },
    encoding: {
      x: { field: "predicted", type: "nominal", sort: names, title: "predicted", axis: { labelAngle: -40 } },
      y: { field: "truth", type: "nominal", sort: names, title: "true class" }
    },
    layer: [
      {
        mark: "rect",
        encoding: {
          color: {
            field: "fraction",
            type: "quantitative",
            scale: { domain: [0, 1], scheme: "blues" },
            title: "share of row",
            legend: { gradientLength: 120 }
          }
        }
      },
      ...(names.length <= 20
        ? [
            {
              mark: { type: "text", fontSize: 9 },
              encoding: {
                text: { field: "count", type: "quantitative" },
                color: { condition: { test: "datum.fraction > 0.5", value: "white" }, value: "#1d1d1f" }
              }
            }
          ]
        : [])
    ]
  }
}
