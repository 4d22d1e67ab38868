import { Effect } from "effect"
import { join, resolve } from "node:path"
import { atomicWrite } from "@bingo/runtime"
import { formatResultsTable, type ReportRow } from "@bingo/eval"
import type { PipelineConfig } from "./PipelineConfig.ts"
import { pipelineLayer, runPipeline } from "./runPipeline.ts"

export interface Comparison {
  readonly losses: ReadonlyArray<string>
  readonly rows: ReadonlyArray<ReportRow>
  readonly chance: number
}

/**
 * Run the same pipeline once per loss with the same teacher, bags, student architecture,
 * budget and seed, and put the students side by side (the paper's comparison at this scale).
 * The first loss's run pre-trains (or loads) the teacher and mines the bags in
 * `<outDir>/<loss>/`; the others reuse those files. The first run also scores the random
 * student and the teacher. Writes `<outDir>/comparison.json`.
 */
export const compareLosses = Effect.fn("compareLosses")(function* (
  config: PipelineConfig,
  configDir: string,
  losses: ReadonlyArray<string>
) {
  const outDir = resolve(configDir, config.outDir)
  const first = losses[0]!
  const rows: Array<ReportRow> = []
  let chance = 0
  for (const [i, name] of losses.entries()) {
    const reuse =
      i === 0
        ? {}
        : {
            teacher: { ...config.teacher, weights: config.teacher.weights ?? join(outDir, first, "teacher.safetensors") },
            bags: { ...config.bags, file: config.bags.file ?? join(outDir, first, "bags.npy") }
          }
    const options = name === config.distill.loss.name ? config.distill.loss.options : {}
    const run: PipelineConfig = {
      ...config,
      ...reuse,
      name: `${config.name}/${name}`,
      outDir: join(outDir, name),
      distill: { ...config.distill, loss: { name, options } },
      eval: { ...config.eval, randomBaseline: i === 0 && config.eval.randomBaseline, teacher: i === 0 && config.eval.teacher }
    }
    yield* Effect.logInfo(`compare: run ${i + 1}/${losses.length}, loss '${name}'`)
    const result = yield* Effect.scoped(runPipeline(run, configDir)).pipe(Effect.provide(pipelineLayer(run, configDir)))
    rows.push(...result.rows)
    chance = result.chance
  }
  const comparison: Comparison = { losses, rows, chance }
  atomicWrite(join(outDir, "comparison.json"), `${JSON.stringify(comparison, null, 2)}\n`)
  return comparison
})

export const formatComparison = (c: Comparison): string => formatResultsTable(c.rows, c.chance)
