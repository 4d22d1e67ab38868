import { Effect } from "effect"
import { existsSync } from "node:fs"
import { basename, relative } from "node:path"
import { DatasetSource } from "@bingo/data"
import { resolveDatasetPaths } from "../runPipeline.ts"
import { inShard, isDone, planCells, type Shard } from "./cellPlan.ts"
import { readCellRecord } from "./CellRecord.ts"
import { estimateSeconds, formatDuration, rateFor } from "./estimateTime.ts"
import type { Study } from "./Study.ts"

/** The number of training images: from a finished cell's record, else by loading the dataset (no training). */
const trainImages = (study: Study, recorded: number | undefined) =>
  recorded !== undefined
    ? Effect.succeed(recorded)
    : Effect.gen(function* () {
        const { train } = yield* (yield* DatasetSource).load
        return train.size
      }).pipe(
        Effect.provide(
          DatasetSource.layer({
            name: study.base.config.dataset.name,
            options: resolveDatasetPaths(study.base.config.dataset.options, study.base.dir)
          })
        )
      )

/**
 * What `bingo study --dry-run` prints: every cell (of the shard) with its arm, seed, folder and
 * whether it is done, the shared files and whether they exist, and an estimate of the time the
 * unfinished cells take: training images x distillation epochs / images per second, the rate
 * measured on finished cells when there are some (see `rateFor`), else an assumed figure (said
 * so). Trains nothing; loads the dataset only to count its images when no cell has finished.
 */
export const dryRunStudy = Effect.fn("dryRunStudy")(function* (study: Study, options: { readonly shard?: Shard } = {}) {
  const plan = planCells(study)
  const cells = plan.filter((c) => inShard(c, options.shard))
  const records = yield* Effect.forEach(plan.filter(isDone), (c) => readCellRecord(c.recordPath))
  const n = yield* trainImages(study, records[0]?.dataset.train)
  const pending = cells.filter((c) => !isDone(c))
  const estimates = estimateSeconds(study, plan, records, pending, n)
  const rows = cells.map((c) => [
    String(c.index),
    c.arm,
    String(c.seed),
    isDone(c) ? "done" : "to run",
    estimates.has(c.index) ? `~${formatDuration(estimates.get(c.index)!.seconds)}` : "-",
    relative(study.outDir, c.dir)
  ])
  const header = ["cell", "arm", "seed", "status", "estimate", "folder"]
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (r: ReadonlyArray<string>) =>
    r
      .map((x, i) => x.padEnd(widths[i]!))
      .join("  ")
      .trimEnd()
  const shared = [...new Set(plan.flatMap((c) => [c.shared.teacher, c.shared.bags?.path].filter((p): p is string => p !== undefined)))]
  const teacherPath = plan[0]!.shared.teacher
  const pretrain =
    teacherPath !== undefined && !existsSync(teacherPath) && pending.length > 0
      ? (n * study.base.config.teacher.pretrain.epochs) / rateFor(study, plan, records, study.arms[0]!.name).imagesPerSecond
      : 0
  const total = [...estimates.values()].reduce((a, e) => a + e.seconds, 0) + pretrain
  const rates = [...new Set([...estimates.values()].map((e) => `${Math.round(e.rate.imagesPerSecond)} images/s, ${e.rate.source}`))]
  return [
    `study ${study.name}: ${plan.length} cells (${study.arms.length} arms x ${study.seeds.length} seeds) in ${study.outDir}` +
      (options.shard === undefined ? "" : `; shard ${options.shard.index}/${options.shard.count}: ${cells.length} cells`),
    "",
    line(header),
    ...rows.map(line),
    "",
    `shared: ${shared.length === 0 ? "none (the base config names the teacher and every arm its bags)" : shared.map((p) => `${basename(p)} (${existsSync(p) ? "exists" : "to make"})`).join(", ")}`,
    `estimate: ${pending.length} cell(s) to run, ~${formatDuration(total)}${pretrain > 0 ? ` (teacher pre-training ~${formatDuration(pretrain)} at the student's rate included)` : ""}`,
    ...(rates.length === 0 ? [] : [`rate: ${rates.join("; ")}`]),
    `assumption: a cell takes ${n} training images x distillation epochs / images per second (whole cell: distillation and evaluation)`
  ].join("\n")
})
