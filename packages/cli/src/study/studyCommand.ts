import { Effect } from "effect"
import { join } from "node:path"
import { parseShard } from "./cellPlan.ts"
import { dryRunStudy } from "./dryRun.ts"
import { formatRerun, rerunCell } from "./rerunCell.ts"
import { reportStudy, runStudy } from "./runStudy.ts"
import { loadStudy } from "./Study.ts"

/** The `bingo study` lines of the usage text. */
export const studyUsage = `  bingo study <study.yaml> [--shard i/n] [--retry-failed] [--dry-run | --table]
                                                       run a multi-seed study: every arm x seed of the study
                                                       file, one shared teacher and bag files, then results.md
                                                       and a chart per headline metric; finished cells are
                                                       skipped. --shard i/n runs only the cells whose index
                                                       mod n == i (0-based, i < n), one process per shard;
                                                       --dry-run lists the cells and estimates the time;
                                                       --table merges the finished cells and names the missing;
                                                       a cell whose training collapses or diverges is recorded
                                                       as failed (failed.json), the study goes on and exits 1;
                                                       --retry-failed runs such cells again
  bingo study <study.yaml> --rerun <arm>/<seed> [--into <dir>]
                                                       run a finished cell again in another folder (default
                                                       under the system's tmp) with the thread count it
                                                       recorded, and compare its scores, bag purity and epoch
                                                       losses with its cell.json; exits 1 unless all the same
`

export interface StudyArgs {
  readonly file: string
  readonly shard?: string
  readonly mode: "run" | "table" | "dry-run" | "rerun"
  readonly retryFailed?: boolean
  /** `--rerun <arm>/<seed>` and `--into <dir>`. */
  readonly rerun?: { readonly cell: string; readonly into?: string }
}

/** The arguments after `bingo study`, or what is wrong with them. */
export const parseStudyArgs = (args: ReadonlyArray<string>): StudyArgs | { readonly bad: string } => {
  let file: string | undefined
  let shard: string | undefined
  const modes: Array<"table" | "dry-run"> = []
  let retryFailed = false
  let rerun: string | undefined
  let into: string | undefined
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    if (a === "--retry-failed") retryFailed = true
    else if (a === "--rerun" || a === "--into") {
      const v = args[++i]
      if (v === undefined || v.startsWith("--"))
        return { bad: a === "--rerun" ? "--rerun needs <arm>/<seed>, e.g. --rerun infonce/2" : "--into needs a folder" }
      if (a === "--rerun") rerun = v
      else into = v
    } else if (a === "--table") modes.push("table")
    else if (a === "--dry-run") modes.push("dry-run")
    else if (a === "--shard" || a.startsWith("--shard=")) {
      const v = a === "--shard" ? args[++i] : a.slice("--shard=".length)
      if (v === undefined) return { bad: "--shard needs i/n, e.g. --shard 0/2" }
      shard = v
    } else if (a.startsWith("--")) return { bad: `unknown option '${a}'` }
    else if (file === undefined) file = a
    else return { bad: `unexpected argument '${a}'` }
  }
  if (file === undefined) return { bad: "missing <study.yaml>" }
  if (into !== undefined && rerun === undefined) return { bad: "--into goes with --rerun <arm>/<seed>" }
  if (rerun !== undefined) {
    if (modes.length > 0 || shard !== undefined || retryFailed)
      return { bad: "--rerun runs one cell: it takes no --table, --dry-run, --shard or --retry-failed" }
    return { file, mode: "rerun", rerun: { cell: rerun, ...(into === undefined ? {} : { into }) } }
  }
  if (modes.length > 1) return { bad: "--table and --dry-run exclude each other" }
  if (modes[0] === "table" && shard !== undefined) return { bad: "--table merges the cells of every shard; it takes no --shard" }
  return { file, mode: modes[0] ?? "run", ...(shard === undefined ? {} : { shard }), ...(retryFailed ? { retryFailed } : {}) }
}

/** `bingo study`: run, dry-run or tabulate a study; prints the table (or the plan) on stdout. */
export const studyCommand = (args: StudyArgs) =>
  Effect.gen(function* () {
    const shard = args.shard === undefined ? undefined : yield* parseShard(args.shard)
    const study = yield* loadStudy(args.file)
    const options = { ...(shard === undefined ? {} : { shard }), ...(args.retryFailed === true ? { retryFailed: true } : {}) }
    const results = join(study.outDir, "results.md")
    if (args.mode === "rerun" && args.rerun !== undefined) {
      const comparison = yield* rerunCell(study, args.rerun.cell, args.rerun.into)
      yield* Effect.sync(() => console.log(formatRerun(comparison)))
      return comparison.identical ? 0 : 1
    }
    if (args.mode === "dry-run") {
      const plan = yield* dryRunStudy(study, options)
      yield* Effect.sync(() => console.log(plan))
    } else if (args.mode === "table") {
      const { table } = yield* reportStudy(study)
      yield* Effect.sync(() => console.log(`${table}\nresults: ${results}`))
    } else {
      const run = yield* runStudy(study, options)
      yield* Effect.sync(() => console.log(`\n${run.table}\nresults: ${results}`))
      // every cell ran, but a failed one is an error of the study: say so in the exit code
      if (run.results.failed.length > 0) return 1
    }
    return 0
  })
