import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { pipelineLayer, type PipelineResult, runPipeline } from "../runPipeline.ts"
import type { Cell } from "./cellPlan.ts"
import { type CellRecord, writeCellRecord } from "./CellRecord.ts"
import type { Study } from "./Study.ts"

let commit: string | null | undefined

/** `git rev-parse HEAD` of the checkout this code runs from (asked once per process), null outside git. */
export const gitCommit = (): string | null => {
  if (commit === undefined) {
    try {
      commit = execFileSync("git", ["rev-parse", "HEAD"], {
        cwd: fileURLToPath(new URL(".", import.meta.url)),
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"]
      }).trim()
    } catch {
      commit = null
    }
  }
  return commit
}

/** The models of `runPipeline`'s rows that a cell records as baselines, by their row name. */
const baselineRows = { randomInit: "student (random init)", teacher: "teacher", randomTeacher: "teacher (random init)" } as const

/**
 * The cell record of a finished pipeline run. The first row of `runPipeline` is the distilled
 * student; the baselines the cell's config asked for follow, named as in `baselineRows`.
 */
export const cellRecordOf = (study: Study, cell: Cell, result: PipelineResult): CellRecord => {
  const student = result.rows[0]
  const baselines: Record<string, Readonly<Record<string, number>>> = {}
  for (const [key, model] of Object.entries(baselineRows)) {
    const row = result.rows.slice(1).find((r) => r.model === model)
    if (row !== undefined) baselines[key] = { ...row.scores }
  }
  return {
    study: study.name,
    arm: cell.arm,
    seed: cell.seed,
    index: cell.index,
    scores: student === undefined ? null : { ...student.scores },
    baselines,
    warnings: result.warnings,
    ...(result.evaluationSkipped === undefined ? {} : { evaluationSkipped: result.evaluationSkipped }),
    distillLosses: result.distillLosses,
    bagPurity: result.bagPurity,
    dataset: result.dataset,
    seconds: { ...result.seconds },
    peakRssMiB: result.peakRssMiB,
    backend: result.backend,
    ...(result.computeThreads === undefined ? {} : { computeThreads: result.computeThreads }),
    gitCommit: gitCommit(),
    finishedAt: new Date().toISOString(),
    config: cell.config
  }
}

/**
 * Run one cell: the pipeline with the cell's config (the shared teacher and bags must exist:
 * `prepareShared`), resuming from `<cell>/checkpoint.safetensors` when an earlier attempt was
 * interrupted, then write `<cell>/cell.json` atomically. Relative paths of the config resolve
 * against the base config's folder, as for `bingo run`.
 */
export const runCell = Effect.fn("runCell")(function* (study: Study, cell: Cell) {
  // read (and kept) before the cell runs: the commit of the code this process loaded, not of one
  // checked out while the cell ran
  gitCommit()
  // timed from before the layers load the data and the teacher, as `bingo run` times a run
  const startedAt = performance.now()
  const result = yield* Effect.scoped(runPipeline(cell.config, study.base.dir, startedAt)).pipe(
    Effect.provide(pipelineLayer(cell.config, study.base.dir))
  )
  const record = cellRecordOf(study, cell, result)
  yield* writeCellRecord(cell.recordPath, record)
  return record
})
