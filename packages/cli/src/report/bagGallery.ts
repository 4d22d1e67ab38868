import { Effect } from "effect"
import { Rng } from "@bingo/runtime"
import { asImageStore, encodePng, type ImageDataset, imageAt, type ImageSource } from "@bingo/data"
import { bagOf, type BagPurity, bagPurity, type Bags } from "@bingo/bag-miner"
import { chartFigure, escapeHtml, htmlTable, type ReportSection } from "./html.ts"
import type { VegaLiteSpec } from "./vegaSvg.ts"
import { vegaLiteSvg } from "./vegaSvg.ts"

export interface GalleryOptions {
  /** Anchors shown (default 24), drawn without repeats from `seed`. */
  readonly anchors?: number
  readonly seed: number
  /** Thumbnails are at most this many pixels on their larger side (default 64); smaller images keep their size. */
  readonly maxSide?: number
}

/** The gallery's anchors: the first `count` of a permutation of 0..n-1 seeded by `seed`. */
export const galleryAnchors = (n: number, count: number, seed: number): Array<number> => [
  ...Rng.fromSeed(seed).permutation(n).subarray(0, Math.min(count, n))
]

const className = (source: ImageSource, label: number) => source.classNames?.[label] ?? `class ${label}`

/** A bar per class: the fraction of its anchors' bag members sharing their label, the overall purity as a rule. */
export const purityChartSpec = (purity: BagPurity, names: (label: number) => string): VegaLiteSpec => ({
  $schema: "https://vega.github.io/schema/vega-lite/v6.json",
  title: { text: "bag purity per class", subtitle: "bag members sharing their anchor's label; the rule is the overall purity" },
  width: { step: 28 },
  height: 200,
  layer: [
    {
      data: { values: purity.perClass.map((c) => ({ label: names(c.label), purity: 100 * c.purity })) },
      mark: { type: "bar", color: "#4c78a8" },
      encoding: {
        x: { field: "label", type: "nominal", sort: null, title: "anchor class", axis: { labelAngle: -40 } },
        y: { field: "purity", type: "quantitative", title: "purity (%)", scale: { domain: [0, 100] } }
      }
    },
    {
      data: { values: [{ overall: 100 * purity.overall }] },
      mark: { type: "rule", color: "#b22222", strokeDash: [6, 4] },
      encoding: { y: { field: "overall", type: "quantitative" } }
    }
  ]
})

const dataUri = (png: Uint8Array) => `data:image/png;base64,${Buffer.from(png).toString("base64")}`

/**
 * Stage B: `anchors` random anchors of the training set (seeded) with their K bag members as
 * thumbnails (PNG data URIs), each member marked ✓ same class / ✗ other class when the data have
 * labels; bag purity overall and per class (`bagPurity`: self entries of isolated rows left out).
 */
export const bagGallerySection = Effect.fn("bagGallerySection")(function* (train: ImageSource, bags: Bags, options: GalleryOptions) {
  const anchors = galleryAnchors(bags.n, options.anchors ?? 24, options.seed)
  const rows = anchors.map((a) => ({ anchor: a, members: [...bagOf(bags, a)] }))
  const wanted = [...new Set(rows.flatMap((r) => [r.anchor, ...r.members]))]
  const images: ImageDataset = yield* asImageStore(train).gather(wanted)
  const uris = new Map<number, string>()
  for (const [j, i] of wanted.entries()) {
    const png = yield* encodePng(imageAt(images, j), images, { maxSide: options.maxSide ?? 64 })
    uris.set(i, dataUri(png))
  }
  const labels = train.labels
  const thumb = (i: number, anchorLabel: number | undefined, role: "anchor" | "member") => {
    const label = labels?.[i]
    const name = label === undefined ? "" : className(train, label)
    const mark = role === "anchor" || anchorLabel === undefined || label === undefined ? "" : label === anchorLabel ? "same" : "other"
    const text = mark === "same" ? `✓ ${name}` : mark === "other" ? `✗ ${name}` : name
    const title = `image ${i}${name === "" ? "" : `, ${name}`}${
      mark === "same"
        ? ": same class as the anchor"
        : mark === "other"
          ? ": other class than the anchor"
          : role === "anchor"
            ? " (anchor)"
            : ""
    }`
    return `<figure class="thumb ${role}${mark === "" ? "" : ` ${mark}`}" title="${escapeHtml(title)}"><img src="${uris.get(i)!}" alt="${escapeHtml(title)}"><span>${escapeHtml(text)}</span></figure>`
  }
  const gallery = rows
    .map((r) => {
      const anchorLabel = labels?.[r.anchor]
      return `<div class="bag">${thumb(r.anchor, anchorLabel, "anchor")}${r.members.map((m) => thumb(m, anchorLabel, "member")).join("")}</div>`
    })
    .join("")
  const intro = `<p class="note">${anchors.length} anchors drawn with the run's seed (${options.seed}) from the ${bags.n.toLocaleString("en-US")} training images, each followed by its K = ${bags.k} bag members${
    labels === undefined ? "" : ": ✓ same class as the anchor, ✗ another class"
  }. The anchor has a dark outline.</p>`
  if (labels === undefined)
    return {
      id: "bags",
      title: "Bags",
      body: `${intro}<p class="note">The data have no labels: no bag purity.</p><div class="gallery">${gallery}</div>`
    } satisfies ReportSection
  const purity = bagPurity(bags, labels)
  const names = (label: number) => className(train, label)
  const chart = chartFigure("purity-per-class", yield* vegaLiteSvg(purityChartSpec(purity, names)))
  const table = htmlTable(
    ["class", "anchors", "purity (%)"],
    purity.perClass.map((c) => [
      escapeHtml(names(c.label)),
      c.anchors.toLocaleString("en-US"),
      Number.isNaN(c.purity) ? "–" : (100 * c.purity).toFixed(1)
    ]),
    [1, 2]
  )
  const overall = `<p>Bag purity: <strong>${(100 * purity.overall).toFixed(1)}%</strong> of bag members share their anchor's label${
    purity.selfEntries > 0 ? ` (${purity.selfEntries.toLocaleString("en-US")} self entries of isolated rows left out)` : ""
  }.</p>`
  return {
    id: "bags",
    title: "Bags",
    body: `${overall}<div class="charts">${chart}${table}</div>${intro}<div class="gallery">${gallery}</div>`
  } satisfies ReportSection
})
