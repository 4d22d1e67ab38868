import { Effect } from "effect"
import { existsSync } from "node:fs"
import { join, resolve } from "node:path"
import { atomicWrite, Runtime } from "@bingo/runtime"
import { DatasetSource } from "@bingo/data"
import { readBagsNpy } from "@bingo/bag-miner"
import { resolveDatasetPaths } from "../runPipeline.ts"
import { bagGallerySection } from "./bagGallery.ts"
import { embeddingSection } from "./embeddingSection.ts"
import { escapeHtml, reportPage, type ReportSection } from "./html.ts"
import { resultsSection, runSection } from "./resultsSection.ts"
import { readRunFiles, type RunFiles } from "./RunFiles.ts"
import { trainingSection } from "./trainingSection.ts"

/** The report's file name in the run folder. */
export const reportName = "report.html"

const note = (id: string, title: string, text: string): ReportSection => ({
  id,
  title,
  body: `<p class="note">${escapeHtml(text)}</p>`
})

/**
 * The sections that need the run's data and networks (bag gallery; maps and confusion matrices),
 * loaded with the run's config.json (Runtime and DatasetSource layers, as `bingo run` builds
 * them). Data, a bag file or weights that cannot be read leave a note in the page and a warning in
 * the log, not a failed report: the sections from the files alone still stand.
 */
const dataSections = (files: RunFiles, options: ReportOptions) => {
  const config = files.config
  if (config === undefined)
    return Effect.succeed([
      note("bags", "Bags", "No config.json in this folder (runs made before bingo wrote it): no bag gallery, maps or confusion matrices.")
    ])
  const failed = (id: string, title: string, what: string) => (e: unknown) =>
    Effect.logWarning(`report: no ${what}: ${messageOf(e)}`).pipe(Effect.as(note(id, title, `Not drawn: ${messageOf(e)}`)))
  return Effect.gen(function* () {
    const { train, test } = yield* (yield* DatasetSource).load
    const bagsPath = config.bags.file === undefined ? join(files.runDir, "bags.npy") : resolve(files.runDir, config.bags.file)
    const gallery = existsSync(bagsPath)
      ? yield* readBagsNpy(bagsPath, { n: train.size, allowSelf: true }).pipe(
          Effect.flatMap((bags) => bagGallerySection(train, bags, { seed: config.seed })),
          Effect.catch(failed("bags", "Bags", "bag gallery"))
        )
      : note("bags", "Bags", `No bag file at ${bagsPath} yet: no bag gallery.`)
    if (options.embeddings === false) return [gallery]
    const embeddings = yield* Effect.scoped(embeddingSection(files.runDir, config, train, test, files.results)).pipe(
      Effect.catch(failed("embeddings", "Embeddings and confusion", "maps or confusion matrices"))
    )
    return [gallery, embeddings]
  }).pipe(
    Effect.provide(DatasetSource.layer({ name: config.dataset.name, options: resolveDatasetPaths(config.dataset.options, files.runDir) })),
    Effect.provide(Runtime.layer({ backend: config.backend, seed: config.seed })),
    Effect.catch((e) =>
      Effect.logWarning(`report: the run's data could not be loaded: ${messageOf(e)}`).pipe(
        Effect.as([note("bags", "Bags", `The run's data could not be loaded: ${messageOf(e)}`)])
      )
    )
  )
}

/** A typed error's message (every error of bingo's packages has one). */
const messageOf = (e: unknown): string =>
  typeof e === "object" && e !== null && "message" in e ? String((e as { readonly message: unknown }).message) : String(e)

export interface ReportOptions {
  /** Draw the embedding maps and confusion matrices (default true): features, probes and UMAP of every network, the slow part. */
  readonly embeddings?: boolean
}

/**
 * `bingo report <runDir>`: `<runDir>/report.html`, one self-contained page (inline SVG charts
 * rendered by Vega here, PNG thumbnails as data URIs, inline CSS, no script, nothing fetched) from
 * what the run folder holds: metrics.jsonl (training curves), results.json (results table,
 * backend, times, peak RSS), config.json (the config, and through it the data: bag gallery),
 * bags.npy and the student and teacher weights (maps, confusion matrices). Written atomically;
 * returns its path.
 */
export const makeReport = Effect.fn("makeReport")(function* (runDir: string, options: ReportOptions = {}) {
  const dir = resolve(runDir)
  const files = yield* readRunFiles(dir)
  const sections: Array<ReportSection> = [
    yield* trainingSection(files.metrics),
    resultsSection(files.results),
    ...(yield* dataSections(files, options)),
    runSection(files.results, files.config)
  ]
  const name = files.results?.name ?? files.config?.name ?? dir
  const meta =
    files.results === undefined
      ? "run in progress or stopped early"
      : `${escapeHtml(files.results.dataset.name)} on ${escapeHtml(files.results.backend)}`
  const path = join(dir, reportName)
  atomicWrite(path, reportPage(`bingo report: ${name}`, meta, sections))
  return path
})
