import { describe, expect, it, vi } from "vitest"
import { existsSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import puppeteer from "puppeteer-core"
import { runCli } from "../src/runCli.ts"

/** Debian's chromium (`apt-get install -y chromium`; .ci/run installs it); puppeteer-core downloads no browser. */
const chromium = process.env["CHROMIUM"] ?? "/usr/bin/chromium"
const skipped = existsSync(chromium) ? undefined : `${chromium} not found: install Debian's chromium (apt-get install -y chromium)`
if (skipped !== undefined) console.warn(`report.browser.test.ts skipped: ${skipped}`)

/** The few DOM types the page function below uses (the repo's tsconfig has no DOM lib; the function runs in the page). */
interface PageElement {
  readonly id: string
  readonly complete: boolean
  readonly naturalWidth: number
  getAttribute(name: string): string | null
  querySelectorAll(selector: string): ArrayLike<PageElement>
  getBBox(): { readonly width: number; readonly height: number }
}
declare const document: { querySelectorAll(selector: string): ArrayLike<PageElement> }

const config = `
name: browser-test
seed: 1
backend: cpu
outDir: out
dataset: { name: shapes, options: { trainSize: 256, testSize: 128, size: 16, seed: 0 } }
augment: { outputSize: 16 }
teacher: { backbone: mlp, widthMultiplier: 0.25, headHidden: 32, embeddingDim: 16, pretrain: { epochs: 2, batchSize: 64 } }
bags: { method: knn, k: 4 }
student: { backbone: mlp, widthMultiplier: 0.125, headHidden: 16, embeddingDim: 16 }
distill: { epochs: 2, batchSize: 64 }
metricsEvery: 1
eval: { knn: { k: 20 }, linear: { epochs: 5 } }
`

describe.skipIf(skipped !== undefined)(
  `the report in a real browser (headless Chromium)${skipped === undefined ? "" : ` (skipped: ${skipped})`}`,
  () => {
    it("a tiny bingo run's report.html opens from disk: no console error, no request leaves the file, every chart has drawn marks, every thumbnail loaded", async () => {
      const dir = mkdtempSync(join(tmpdir(), "bingo-report-browser-"))
      writeFileSync(join(dir, "tiny.yaml"), config)
      // the run's table and paths are not this test's output
      const quiet = vi.spyOn(console, "log").mockImplementation(() => undefined)
      try {
        expect(await runCli(["run", join(dir, "tiny.yaml")], { log: false })).toBe(0)
      } finally {
        quiet.mockRestore()
      }
      const report = join(dir, "out", "report.html")
      expect(existsSync(report)).toBe(true)

      const browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: ["--no-sandbox", "--disable-gpu"] })
      try {
        const page = await browser.newPage()
        const problems: Array<string> = []
        page.on("console", (m) => {
          if (m.type() === "error" || m.type() === "warn") problems.push(`console ${m.type()}: ${m.text()}`)
        })
        page.on("pageerror", (e) => problems.push(`page error: ${String(e)}`))
        await page.setRequestInterception(true)
        page.on("request", (r) => {
          const url = r.url()
          if (url.startsWith("file:") || url.startsWith("data:")) void r.continue()
          else {
            problems.push(`request for ${url}`)
            void r.abort()
          }
        })
        await page.goto(pathToFileURL(report).href, { waitUntil: "load" })
        const seen = await page.evaluate(() => {
          const charts = Array.from(document.querySelectorAll("figure.chart")).map((f) => {
            // Vega's data marks are the paths / rects of groups of role "mark" (axes, legends and titles have other roles)
            const marks = Array.from(f.querySelectorAll("svg g.role-mark path, svg g.role-mark rect"))
            return {
              name: f.getAttribute("data-chart") ?? "",
              marks: marks.length,
              drawn: marks.filter((m) => {
                const box = m.getBBox()
                return box.width > 0 || box.height > 0
              }).length
            }
          })
          const images = Array.from(document.querySelectorAll(".gallery img"))
          return {
            charts,
            images: images.length,
            loaded: images.filter((i) => i.complete && i.naturalWidth > 0).length,
            sections: Array.from(document.querySelectorAll("section")).map((s) => s.id)
          }
        })
        expect(problems).toEqual([])
        expect(seen.sections).toEqual(["training", "results", "bags", "embeddings", "run"])
        expect(seen.charts.map((c) => c.name)).toEqual([
          "loss-teacher-pre-training",
          "loss-distillation",
          "weights-distillation",
          "lr",
          "spread",
          "probe-loss",
          "purity-per-class",
          "map-student-bingo",
          "map-student-random-init",
          "map-teacher",
          "confusion-student-bingo",
          "confusion-student-random-init",
          "confusion-teacher",
          "confusion-teacher-random-init"
        ])
        for (const c of seen.charts) expect(c.drawn, c.name).toBeGreaterThan(0)
        // 24 anchors with their 4 bag members, every one decoded by the browser
        expect(seen.images).toBe(24 * 5)
        expect(seen.loaded).toBe(seen.images)
      } finally {
        await browser.close()
      }
    }, 300_000)
  }
)
