import { Effect } from "effect"
import { existsSync } from "node:fs"
import { join, resolve } from "node:path"
import { atomicWrite } from "@bingo/runtime"
import { DatasetSource } from "@bingo/data"
import { readBagsNpy } from "@bingo/bag-miner"
import { resolveDatasetPaths } from "../runPipeline.ts"
import { bagGallerySection } from "./bagGallery.ts"
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
 * The sections that need the run's data (the bag gallery), loaded with the run's config.json
 * (DatasetSource layer). A dataset or bag file that cannot be read leaves a note in the page and
 * a warning in the log, not a failed report: the sections from the files alone still stand.
 */
const dataSections = (files: RunFiles) => {
  const config = files.config
  if (config === undefined)
    return Effect.succeed([note("bags", "Bags", "No config.json in this folder (runs made before bingo wrote it): no bag gallery.")])
  return Effect.gen(function* () {
    const { train } = yield* (yield* DatasetSource).load
    const bagsPath = config.bags.file === undefined ? join(files.runDir, "bags.npy") : resolve(files.runDir, config.bags.file)
    if (!existsSync(bagsPath)) return [note("bags", "Bags", `No bag file at ${bagsPath} yet: no bag gallery.`)]
    const bags = yield* readBagsNpy(bagsPath, { n: train.size, allowSelf: true })
    return [yield* bagGallerySection(train, bags, { seed: config.seed })]
  }).pipe(
    Effect.provide(DatasetSource.layer({ name: config.dataset.name, options: resolveDatasetPaths(config.dataset.options, files.runDir) })),
    Effect.catch((e) =>
      Effect.logWarning(`report: no bag gallery: ${e.message}`).pipe(
        Effect.as([note("bags", "Bags", `The run's data could not be loaded: ${e.message}`)])
      )
    )
  )
}

/**
 * `bingo report <runDir>`: `<runDir>/report.html`, one self-contained page (inline SVG charts
 * rendered by Vega here, PNG thumbnails as data URIs, inline CSS, no script, nothing fetched) from
 * what the run folder holds: metrics.jsonl (training curves), results.json (results table,
 * backend, times, peak RSS), config.json (the config, and through it the data: bag gallery) and
 * bags.npy. Written atomically; returns its path.
 */
export const makeReport = Effect.fn("makeReport")(function* (runDir: string) {
  const dir = resolve(runDir)
  const files = yield* readRunFiles(dir)
  const sections: Array<ReportSection> = [
    yield* trainingSection(files.metrics),
    resultsSection(files.results),
    ...(yield* dataSections(files)),
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
