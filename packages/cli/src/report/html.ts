/** HTML text of `s`: & < > " ' escaped. */
export const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!)

/**
 * Vega's SVGs name their clip paths and gradients `clip1`, `gradient_0`, ... in every chart; inline
 * in one page the first chart's ids would win. Prefix each id (and each reference to one) with `prefix`.
 */
export const scopeSvgIds = (svg: string, prefix: string): string =>
  svg.replace(/\bid="([^"]+)"/g, `id="${prefix}-$1"`).replace(/url\(#([^)]+)\)/g, `url(#${prefix}-$1)`)

/** One chart: the inline SVG in a figure marked `data-chart` (the browser test finds every chart by it). */
export const chartFigure = (name: string, svg: string, caption?: string): string =>
  `<figure class="chart" data-chart="${escapeHtml(name)}">${scopeSvgIds(svg, name.replace(/[^A-Za-z0-9_-]/g, "_"))}${
    caption === undefined ? "" : `<figcaption>${caption}</figcaption>`
  }</figure>`

/** A table; cells are HTML (escape text before). `numeric` columns are right-aligned. */
export const htmlTable = (
  header: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string>>,
  numeric: ReadonlyArray<number> = []
): string => {
  const cell = (tag: "th" | "td", i: number, content: string) => `<${tag}${numeric.includes(i) ? ' class="num"' : ""}>${content}</${tag}>`
  return `<table><thead><tr>${header.map((h, i) => cell("th", i, escapeHtml(h))).join("")}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c, i) => cell("td", i, c)).join("")}</tr>`)
    .join("")}</tbody></table>`
}

/** A two-column table of facts: a name (text) and its value (HTML). */
export const factsTable = (rows: ReadonlyArray<readonly [string, string]>): string =>
  `<table class="facts"><tbody>${rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${v}</td></tr>`).join("")}</tbody></table>`

export interface ReportSection {
  readonly id: string
  readonly title: string
  /** HTML. */
  readonly body: string
}

const style = `
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 1320px; padding: 16px 24px 48px; color: #1d1d1f; }
h1 { font-size: 22px; margin: 8px 0 2px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 16px 0 6px; }
.meta { color: #555; margin: 0 0 8px; }
nav a { margin-right: 14px; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(580px, 1fr)); gap: 16px 20px; align-items: start; }
.charts.small { grid-template-columns: repeat(auto-fill, minmax(390px, 1fr)); }
figure.chart { margin: 0; }
figure.chart svg { max-width: 100%; height: auto; }
figure.chart figcaption { color: #555; font-size: 12px; max-width: 560px; }
table { border-collapse: collapse; margin: 6px 0 10px; }
th, td { padding: 3px 10px; border-bottom: 1px solid #e5e5e5; text-align: left; vertical-align: top; }
th { background: #f5f5f7; }
table.facts th { background: none; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.warning { color: #8a4b00; background: #fff4e0; border-left: 3px solid #e59400; padding: 4px 8px; margin: 4px 0; }
.note { color: #555; }
pre { background: #f5f5f7; padding: 8px 12px; overflow: auto; font-size: 12px; max-height: 520px; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(380px, 1fr)); gap: 8px 16px; }
.bag { display: flex; align-items: center; gap: 4px; }
.bag .anchor { margin-right: 8px; outline: 2px solid #1d1d1f; }
.thumb { display: inline-flex; flex-direction: column; align-items: center; font-size: 10px; color: #555; margin: 0; width: 56px; }
.thumb span { display: block; max-width: 56px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.thumb img { width: 44px; height: 44px; image-rendering: pixelated; border: 3px solid transparent; }
.thumb.same img { border-color: #2e8b57; }
.thumb.other img { border-color: #c0392b; }
.thumb.same span { color: #2e8b57; }
.thumb.other span { color: #c0392b; }
`

/** The whole page: a header, a table of contents and the sections; no script, no external resource. */
export const reportPage = (title: string, meta: string, sections: ReadonlyArray<ReportSection>): string =>
  `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${style}</style>
</head>
<body>
<header><h1>${escapeHtml(title)}</h1><p class="meta">${meta}</p>
<nav>${sections.map((s) => `<a href="#${s.id}">${escapeHtml(s.title)}</a>`).join("")}</nav></header>
${sections.map((s) => `<section id="${s.id}"><h2>${escapeHtml(s.title)}</h2>\n${s.body}\n</section>`).join("\n")}
</body>
</html>
`
