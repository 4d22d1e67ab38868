import { Effect } from "effect"
import { existsSync, readFileSync, statSync } from "node:fs"
import { join } from "node:path"
import { type MetricsLine, readMetrics } from "@bingo/training"
import type { PipelineConfig } from "../PipelineConfig.ts"
import type { PipelineResult } from "../runPipeline.ts"
import { readRunConfig, runConfigName } from "../runConfigFile.ts"
import { RunFolderError } from "./ReportError.ts"

/** What a run folder holds for the report; a run still going (or one that failed) has no results yet. */
export interface RunFiles {
  readonly runDir: string
  /** `config.json` (decoded; its paths relative to runDir), absent for runs made before `bingo run` wrote it. */
  readonly config: PipelineConfig | undefined
  /** `results.json`, absent until the run finished. */
  readonly results: PipelineResult | undefined
  /** The whole lines of `metrics.jsonl` (docs/metrics.md). */
  readonly metrics: ReadonlyArray<MetricsLine>
}

/**
 * Read a run folder: config.json, results.json, metrics.jsonl, each optional, but a folder
 * with neither results nor metrics is a RunFolderError (nothing to report); a file that is
 * there but unreadable is one too, naming it.
 */
export const readRunFiles = Effect.fn("readRunFiles")(function* (runDir: string) {
  if (!existsSync(runDir) || !statSync(runDir).isDirectory()) return yield* new RunFolderError({ path: runDir, reason: "no such folder" })
  const file = (name: string) => join(runDir, name)
  const read = <A>(name: string, parse: (path: string) => A) =>
    Effect.try({
      try: () => (existsSync(file(name)) ? parse(file(name)) : undefined),
      catch: (e) => new RunFolderError({ path: runDir, reason: `cannot read ${name}: ${(e as Error).message}` })
    })
  const results = yield* read("results.json", (p) => JSON.parse(readFileSync(p, "utf8")) as PipelineResult)
  const metrics = (yield* read("metrics.jsonl", readMetrics)) ?? []
  if (results === undefined && metrics.length === 0)
    return yield* new RunFolderError({
      path: runDir,
      reason: "neither results.json nor metrics.jsonl is there: not the outDir of a `bingo run` (or it has not trained a step yet)"
    })
  const config = existsSync(file(runConfigName)) ? yield* readRunConfig(runDir) : undefined
  return { runDir, config, results, metrics } satisfies RunFiles
})
