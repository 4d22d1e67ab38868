import { isAbsolute, join, relative, resolve } from "node:path"
import { atomicWrite } from "@bingo/runtime"
import { loadConfig } from "./loadConfig.ts"
import type { PipelineConfig } from "./PipelineConfig.ts"

/** The config file `bingo run` writes into its outDir. */
export const runConfigName = "config.json"

/** Dataset options that name files or folders (as `resolveDatasetPaths` reads them). */
const datasetPathOptions = ["dir", "testDir", "cache"] as const

/**
 * The decoded config as seen from its outDir: every path (`plugins`, `bags.file`,
 * `teacher.weights`, the dataset's `dir` / `testDir` / `cache`) relative to the outDir and
 * `outDir: "."`, so the file is itself a config whose folder is the run folder: `bingo report`
 * loads the run's dataset and teacher from it, and `bingo run <outDir>/config.json` is the same
 * run. Absolute paths stay absolute.
 */
export const runConfigOf = (config: PipelineConfig, configDir: string): PipelineConfig => {
  const outDir = resolve(configDir, config.outDir)
  const rebase = (p: string): string => (isAbsolute(p) ? p : relative(outDir, resolve(configDir, p)) || ".")
  const options: Record<string, unknown> = { ...config.dataset.options }
  for (const key of datasetPathOptions) {
    const value = options[key]
    if (typeof value === "string") options[key] = rebase(value)
  }
  return {
    ...config,
    outDir: ".",
    plugins: config.plugins.map(rebase),
    dataset: { ...config.dataset, options },
    bags: config.bags.file === undefined ? config.bags : { ...config.bags, file: rebase(config.bags.file) },
    teacher: config.teacher.weights === undefined ? config.teacher : { ...config.teacher, weights: rebase(config.teacher.weights) }
  }
}

/** Write `<outDir>/config.json` (`runConfigOf`), atomically. */
export const writeRunConfig = (config: PipelineConfig, configDir: string): void =>
  atomicWrite(join(resolve(configDir, config.outDir), runConfigName), `${JSON.stringify(runConfigOf(config, configDir), null, 2)}\n`)

/** Read and decode `<runDir>/config.json`; its paths are relative to `runDir`. */
export const readRunConfig = (runDir: string) => loadConfig(join(runDir, runConfigName))
