import { Effect } from "effect"

/** A Vega-Lite specification (the JSON of https://vega.github.io/schema/vega-lite/v6.json). */
export type VegaLiteSpec = Readonly<Record<string, unknown>>

/**
 * The SVG text of a Vega-Lite chart, rendered by Vega in Node (no browser, no canvas: text widths
 * are estimated). vega and vega-lite are loaded on first use. Every chart bingo writes (the
 * study's bar charts, the run report's curves, maps and matrices) comes through here.
 */
export const vegaLiteSvg = (spec: VegaLiteSpec): Effect.Effect<string> =>
  Effect.promise(async () => {
    const [vega, vegaLite] = await Promise.all([import("vega"), import("vega-lite")])
    const compiled = vegaLite.compile(spec as unknown as Parameters<typeof vegaLite.compile>[0]).spec
    const view = new vega.View(vega.parse(compiled), { renderer: "none" })
    try {
      return await view.toSVG()
    } finally {
      view.finalize()
    }
  })
