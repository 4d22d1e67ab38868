import * as tf from "@tensorflow/tfjs"
import { decodeImage, encodePng } from "@bingo/data"
import { Effect } from "effect"
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import puppeteer, { type Browser, type Page } from "puppeteer-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Server, serve } from "../serve.ts"

/** Debian's chromium (`apt-get install -y chromium`; .ci/run installs it); puppeteer-core downloads no browser. */
const chromium = process.env["CHROMIUM"] ?? "/usr/bin/chromium"
const skipped = existsSync(chromium) ? undefined : `${chromium} not found: install Debian's chromium (apt-get install -y chromium)`
if (skipped !== undefined) console.warn(`search.browser.test.ts skipped: ${skipped}`)
/** `BINGO_SCREENSHOT=examples/browser-search/screenshot.png` also saves the page after the click. */
const screenshot = process.env["BINGO_SCREENSHOT"]

const here = resolve(import.meta.dirname, "..")
const studentDir = join(here, "student-tfjs")
const gallery = JSON.parse(readFileSync(join(here, "gallery", "gallery.json"), "utf8")) as Array<{ file: string; label: number }>
const K = 8

/** What the page exposes as `window.bingoSearch` (the repo's tsconfig has no DOM lib; these run in the page). */
interface PageState {
  readonly backend: string
  readonly skipped: ReadonlyArray<string>
  readonly embeddings: ReadonlyArray<ReadonlyArray<number>>
}
interface PageElement {
  readonly dataset: Record<string, string | undefined>
}
declare const window: { bingoSearch: PageState }
declare const document: { querySelectorAll(selector: string): ArrayLike<PageElement>; getElementById(id: string): { textContent: string } }

/** The student from its model.json and weight files, in memory: plain TF.js, as the page loads it. */
const loadStudent = async (): Promise<tf.LayersModel> => {
  const json = JSON.parse(readFileSync(join(studentDir, "model.json"), "utf8")) as tf.io.ModelJSON
  const manifest = json.weightsManifest
  const buffers = manifest.flatMap((g) => g.paths).map((p) => new Uint8Array(readFileSync(join(studentDir, p))))
  const weightData = new Uint8Array(buffers.reduce((n, b) => n + b.length, 0))
  let at = 0
  for (const b of buffers) {
    weightData.set(b, at)
    at += b.length
  }
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: manifest.flatMap((g) => g.weights),
      weightData: weightData.buffer,
      ...(json.userDefinedMetadata === undefined ? {} : { userDefinedMetadata: json.userDefinedMetadata })
    })
  )
}

/** The page's preprocessing, written again in Node: [0, 1], luma, centre crop, bilinear resize, (x - 0.5) / 0.5. */
const preprocess = (pixels: Float32Array, h: number, w: number, c: number): tf.Tensor3D =>
  tf.tidy(() => {
    let x: tf.Tensor3D = tf.tensor3d(pixels, [h, w, c])
    if (c === 3) x = tf.sum(tf.mul(x, [0.299, 0.587, 0.114]), -1, true)
    const side = Math.min(h, w)
    x = tf.slice(x, [Math.floor((h - side) / 2), Math.floor((w - side) / 2), 0], [side, side, 1])
    if (side !== 16) x = tf.image.resizeBilinear(x, [16, 16], false, true)
    return tf.div(tf.sub(x, 0.5), 0.5) as tf.Tensor3D
  })

const embedRows = (model: tf.LayersModel, views: Array<tf.Tensor3D>): Array<Array<number>> =>
  tf.tidy(() => {
    const out = model.predict(tf.stack(views)) as Array<tf.Tensor2D>
    const e = out[model.outputNames.indexOf("embedding")]!
    return tf.div(e, tf.norm(e, "euclidean", -1, true)).arraySync() as Array<Array<number>>
  })

const dot = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) => a.reduce((s, v, i) => s + v * b[i]!, 0)

/** Node's K nearest gallery images of `query`, leaving out `self`. */
const nearest = (embeddings: ReadonlyArray<ReadonlyArray<number>>, query: ReadonlyArray<number>, self?: number) =>
  embeddings
    .map((e, index) => ({ index, score: dot(query, e) }))
    .filter((n) => n.index !== self)
    .sort((a, b) => b.score - a.score)
    .slice(0, K)

/** The neighbours the page lists, in order. */
const shownNeighbours = (page: Page) =>
  page.evaluate(() =>
    Array.from(document.querySelectorAll("#neighbours li")).map((li) => ({
      index: Number(li.dataset["index"]),
      score: Number(li.dataset["score"])
    }))
  )

/**
 * The page's list equals Node's: same scores to 1e-4 (webgl / wasm / cpu round differently), and at
 * each rank the same image, or one whose Node score ties with Node's choice to 1e-4.
 */
const expectSameNeighbours = (
  shown: ReadonlyArray<{ index: number; score: number }>,
  expected: ReadonlyArray<{ index: number; score: number }>,
  scoreOf: (index: number) => number
) => {
  expect(shown.length).toBe(expected.length)
  shown.forEach((s, rank) => {
    expect(Math.abs(s.score - scoreOf(s.index)), `score of #${s.index}`).toBeLessThan(1e-4)
    if (s.index !== expected[rank]!.index) expect(Math.abs(scoreOf(s.index) - expected[rank]!.score)).toBeLessThan(1e-4)
  })
}

describe.skipIf(skipped !== undefined)(
  `browser search in a real browser (headless Chromium)${skipped === undefined ? "" : ` (skipped: ${skipped})`}`,
  () => {
    let server: Server | undefined
    let browser: Browser | undefined
    let page: Page
    let model: tf.LayersModel
    let nodeEmbeddings: Array<Array<number>>
    const problems: Array<string> = []

    beforeAll(async () => {
      await tf.setBackend("cpu")
      ;(tf.backend() as unknown as { firstUse: boolean }).firstUse = false // no "install tfjs-node" banner
      model = await loadStudent()
      const views = await Promise.all(
        gallery.map(async (g) => {
          const bytes = await Effect.runPromise(decodeImage(join(here, "gallery", g.file), { size: 16, channels: 1 }))
          return preprocess(
            Float32Array.from(bytes, (b) => b / 255),
            16,
            16,
            1
          )
        })
      )
      nodeEmbeddings = embedRows(model, views)
      tf.dispose(views)

      server = await serve()
      browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: ["--no-sandbox", "--disable-gpu"] })
      page = await browser.newPage()
      await page.setViewport({ width: 960, height: 760 })
      page.on("console", (m) => {
        if (m.type() === "error") problems.push(`console error: ${m.text()}`)
      })
      page.on("pageerror", (e) => problems.push(`page error: ${String(e)}`))
      page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()}`))
      page.on("response", (r) => {
        if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.url()}`)
      })
      await page.goto(server.url, { waitUntil: "load" })
      await page.waitForSelector("body[data-state=ready], body[data-state=failed]", { timeout: 30_000 })
    }, 60_000)

    afterAll(async () => {
      await browser?.close()
      await server?.close()
      model?.dispose()
    })

    it("loads the student with plain TF.js, picks a backend and embeds the gallery as Node does", async () => {
      const status = await page.evaluate(() => document.getElementById("status").textContent)
      const seen = await page.evaluate(() => ({ backend: window.bingoSearch.backend, embeddings: window.bingoSearch.embeddings }))
      console.log(`browser search: ${status}`)
      expect(problems).toEqual([])
      expect(["webgl", "wasm", "cpu"]).toContain(seen.backend)
      expect(status).toContain(`backend ${seen.backend}`)
      expect(seen.embeddings.length).toBe(gallery.length)
      seen.embeddings.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - nodeEmbeddings[i]![j]!)).toBeLessThan(1e-4)))
    })

    it.each([
      ["wasm", "without WebGL"],
      ["cpu", "with ?backend=cpu"]
    ])("uses %s %s, names it on the page, and embeds the gallery as Node does", async (backend, how) => {
      const other = await browser!.newPage()
      try {
        const noWebgl = how === "without WebGL"
        // no WebGL context, as in a browser without GPU access or software WebGL
        if (noWebgl)
          await other.evaluateOnNewDocument(`
            for (const Canvas of [HTMLCanvasElement, OffscreenCanvas]) {
              const getContext = Canvas.prototype.getContext
              Canvas.prototype.getContext = function (type, ...rest) {
                return /webgl/.test(type) ? null : getContext.call(this, type, ...rest)
              }
            }`)
        other.on("console", (m) => {
          if (m.type() === "error") problems.push(`console error (${backend}): ${m.text()}`)
        })
        other.on("pageerror", (e) => problems.push(`page error (${backend}): ${String(e)}`))
        await other.goto(noWebgl ? server!.url : `${server!.url}?backend=${backend}`, { waitUntil: "load" })
        await other.waitForSelector("body[data-state=ready], body[data-state=failed]", { timeout: 30_000 })
        const seen = await other.evaluate(() => ({ backend: window.bingoSearch.backend, embeddings: window.bingoSearch.embeddings }))
        expect(problems).toEqual([])
        expect(seen.backend).toBe(backend)
        expect(await other.evaluate(() => document.getElementById("status").textContent)).toContain(`backend ${backend}`)
        if (noWebgl)
          expect(await other.evaluate(() => document.getElementById("status").textContent)).toContain(
            `backend wasm (skipped webgl: this browser gives no WebGL context)`
          )
        seen.embeddings.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - nodeEmbeddings[i]![j]!)).toBeLessThan(1e-4)))
      } finally {
        await other.close()
      }
    })

    it("shows the nearest neighbours of a clicked gallery image, the same as Node computes from the same weights", async () => {
      for (const i of [7, 31]) {
        await page.click(`#gallery img[data-index="${i}"]`)
        await page.waitForSelector(`#neighbours[data-query="${i}"]`, { timeout: 10_000 })
        const shown = await shownNeighbours(page)
        const scoreOf = (j: number) => dot(nodeEmbeddings[i]!, nodeEmbeddings[j]!)
        expectSameNeighbours(shown, nearest(nodeEmbeddings, nodeEmbeddings[i]!, i), scoreOf)
      }
      if (screenshot !== undefined) await page.screenshot({ path: screenshot, fullPage: true })
      expect(problems).toEqual([])
    })

    it("embeds an image file chosen or dropped (RGB, 40x28: greyed, centre-cropped, resized) and shows its neighbours as Node computes them", async () => {
      const [h, w] = [28, 40]
      // fixed pseudo-random bytes (the fractional part of a large sine), exact in 8 bits
      const pixels = Float32Array.from(
        { length: h * w * 3 },
        (_, i) => Math.floor((Math.abs(Math.sin(i * 12.9898) * 43758.5453) % 1) * 256) / 255
      )
      const path = join(mkdtempSync(join(tmpdir(), "bingo-browser-search-")), "query.png")
      writeFileSync(path, await Effect.runPromise(encodePng(pixels, { height: h, width: w, channels: 3 })))
      const view = preprocess(pixels, h, w, 3)
      const query = embedRows(model, [view])[0]!
      view.dispose()

      const input = await page.$("#file")
      await (input as unknown as { uploadFile(p: string): Promise<void> }).uploadFile(path)
      await page.waitForSelector("#neighbours[data-query=file]", { timeout: 10_000 })
      const shown = await shownNeighbours(page)
      expectSameNeighbours(shown, nearest(nodeEmbeddings, query), (j) => dot(query, nodeEmbeddings[j]!))

      // the same file dropped on the drop zone (a drop event carrying it, as a drag from the desktop delivers)
      const png = readFileSync(path).toString("base64")
      await page.evaluate(`(() => {
        const transfer = new DataTransfer()
        transfer.items.add(new File([Uint8Array.from(atob("${png}"), (c) => c.charCodeAt(0))], "dropped.png", { type: "image/png" }))
        document.getElementById("neighbours").removeAttribute("data-query")
        document.getElementById("drop").dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }))
      })()`)
      await page.waitForSelector("#neighbours[data-query=file]", { timeout: 10_000 })
      expect(await page.evaluate(() => document.getElementById("query").textContent)).toContain("dropped.png (40x28)")
      expect(await shownNeighbours(page)).toEqual(shown)
      expect(problems).toEqual([])
    })
  }
)
