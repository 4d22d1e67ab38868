import { Effect } from "effect"
import { join } from "node:path"
import { parseShard } from "./cellPlan.ts"
import { dryRunStudy } from "./dryRun.ts"
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
`

export interface StudyArgs {
  readonly file: string
  readonly shard?: string
  readonly mode: "run" | "table" | "dry-run"
  readonly retryFailed?: boolean
}

/** The arguments after `bingo study`, or what is wrong with them. */
export const parseStudyArgs = (args: ReadonlyArray<string>): StudyArgs | { readonly bad: string } => {
  let file: string | undefined
  let shard: string | undefined
  const modes: Array<"table" | "dry-run"> = []
  let retryFailed = false
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    if (a === "--retry-failed") retryFailed = true
    else if (a === "--table") modes.push("table")
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
