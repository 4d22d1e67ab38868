import { Cause, Effect, Exit, Logger } from "effect"
import { dirname, join, resolve } from "node:path"
import { listBackbones, backboneRegistry } from "@bingo/backbones"
import { DatasetSource, listDatasets } from "@bingo/data"
import { LossRegistry } from "@bingo/losses"
import { formatTeacherFormats } from "@bingo/teacher"
import { compareLosses, formatComparison } from "./compareLosses.ts"
import { loadConfig } from "./loadConfig.ts"
import { describeSplits } from "./describeSplits.ts"
import { formatPipelineResult, pipelineLayer, resolveDatasetPaths, runPipeline } from "./runPipeline.ts"
import { parseStudyArgs, studyCommand, studyUsage } from "./study/studyCommand.ts"
import { reportAfterRun, reportCommand, reportUsage } from "./report/reportCommand.ts"
import { ProgressBar, type StageTotals } from "./progress/ProgressBar.ts"
import type { PipelineConfig } from "./PipelineConfig.ts"
import { bagsCommand, bagsUsage, embedCommand, parseBagsArgs } from "./bagsCommand.ts"

const usage = `bingo - self-supervised distillation (BINGO) for TypeScript

usage:
  bingo run <config.yaml> [--set key.path=value ...]   run the pipeline a config describes
  bingo check <config.yaml> [--set key.path=value ...] decode the config and print it with defaults
  bingo data <config.yaml> [--set key.path=value ...]  load the config's dataset and describe it; an image
                                                       folder with \`cache\` is decoded into its cache now
  bingo compare <config.yaml> --losses bingo,seed,moco [--set ...]
                                                       the same run once per loss (same teacher, bags, budget)
${bagsUsage}${reportUsage}${studyUsage}  bingo losses | backbones | datasets | teachers       list what the registries hold (teachers: the
                                                       teacher.weightsFormat values, what runs each, their keys)
`

const parseOverrides = (args: ReadonlyArray<string>): { file?: string; overrides: Array<string>; losses?: Array<string>; bad?: string } => {
  const overrides: Array<string> = []
  let file: string | undefined
  let losses: Array<string> | undefined
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    if (a === "--losses") {
      const v = args[++i]
      if (v === undefined) return { overrides, bad: "--losses needs a comma-separated list" }
      losses = v
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s.length > 0)
    } else if (a === "--set") {
      const v = args[++i]
      if (v === undefined) return { overrides, bad: "--set needs key.path=value" }
      overrides.push(v)
    } else if (a.startsWith("--set=")) overrides.push(a.slice(6))
    else if (file === undefined) file = a
    else return { overrides, bad: `unexpected argument '${a}'` }
  }
  return { overrides, ...(file === undefined ? {} : { file }), ...(losses === undefined ? {} : { losses }) }
}

/** A terminal to draw progress bars on: `bingo run` draws one per training stage (`ProgressBar`). */
export interface ProgressTerminal {
  readonly write: (text: string) => void
  readonly columns: () => number
}

/** The bar's stages: each training stage of a config, its epochs and images per step. */
const stageTotals = (config: PipelineConfig): Record<string, StageTotals> => ({
  "teacher pre-training": { epochs: config.teacher.pretrain.epochs, imagesPerStep: config.teacher.pretrain.batchSize },
  distillation: { epochs: config.distill.epochs, imagesPerStep: config.distill.batchSize }
})

const program = (argv: ReadonlyArray<string>, progress: { terminal?: ProgressTerminal; bar?: ProgressBar }) =>
  Effect.gen(function* () {
    const [command, ...rest] = argv
    switch (command) {
      case "run":
      case "compare":
      case "data":
      case "check": {
        const { file, overrides, losses, bad } = parseOverrides(rest)
        if (bad !== undefined || file === undefined) {
          yield* Effect.sync(() => process.stderr.write(`${bad ?? "missing <config.yaml>"}\n\n${usage}`))
          return 2
        }
        const startedAt = performance.now()
        const path = resolve(file)
        const config = yield* loadConfig(path, overrides)
        if (command === "check") {
          yield* Effect.sync(() => console.log(JSON.stringify(config, null, 2)))
          return 0
        }
        if (command === "data") {
          const options = resolveDatasetPaths(config.dataset.options, dirname(path))
          const splits = yield* Effect.gen(function* () {
            return yield* (yield* DatasetSource).load
          }).pipe(Effect.provide(DatasetSource.layer({ name: config.dataset.name, options })))
          const cacheDir = typeof options["cache"] === "string" ? options["cache"] : undefined
          yield* Effect.sync(() => console.log(describeSplits(config.dataset.name, splits, cacheDir)))
          return 0
        }
        if (command === "compare") {
          const comparison = yield* compareLosses(config, dirname(path), losses ?? ["bingo", "seed", "moco"])
          yield* Effect.sync(() =>
            console.log(`\n${formatComparison(comparison)}\nresults: ${resolve(dirname(path), config.outDir, "comparison.json")}`)
          )
          return 0
        }
        const bar = progress.terminal === undefined ? undefined : new ProgressBar({ ...progress.terminal, stages: stageTotals(config) })
        progress.bar = bar
        const result = yield* Effect.scoped(runPipeline(config, dirname(path), startedAt)).pipe(
          Effect.provide(pipelineLayer(config, dirname(path), bar === undefined ? {} : { onStep: bar.update }))
        )
        const outDir = resolve(dirname(path), config.outDir)
        yield* Effect.sync(() => console.log(`\n${formatPipelineResult(result)}\nresults: ${join(outDir, "results.json")}`))
        yield* reportAfterRun(outDir)
        return 0
      }
      case "embed":
      case "bags": {
        const sub = command === "embed" ? "embed" : rest[0] === "index" || rest[0] === "search" || rest[0] === "merge" ? rest[0] : "all"
        const args = parseBagsArgs(sub === "embed" || sub === "all" ? rest : rest.slice(1), sub !== "merge" && sub !== "all")
        if ("bad" in args) {
          yield* Effect.sync(() => process.stderr.write(`${args.bad}\n\n${usage}`))
          return 2
        }
        return sub === "embed" ? yield* embedCommand(args) : yield* bagsCommand(sub, args)
      }
      case "report": {
        if (rest.length !== 1 || rest[0]!.startsWith("-")) {
          yield* Effect.sync(() =>
            process.stderr.write(`${rest.length === 0 ? "missing <runDir>" : `unexpected argument '${rest[1] ?? rest[0]}'`}\n\n${usage}`)
          )
          return 2
        }
        return yield* reportCommand(rest[0]!)
      }
      case "study": {
        const args = parseStudyArgs(rest)
        if ("bad" in args) {
          yield* Effect.sync(() => process.stderr.write(`${args.bad}\n\n${usage}`))
          return 2
        }
        return yield* studyCommand(args)
      }
      case "losses":
        for (const l of LossRegistry.make().list()) console.log(`${l.name.padEnd(14)} ${l.description}`)
        return 0
      case "backbones":
        for (const b of listBackbones()) console.log(`${b.padEnd(14)} ${backboneRegistry[b]!.description}`)
        return 0
      case "teachers":
        yield* Effect.sync(() => console.log(formatTeacherFormats()))
        return 0
      case "datasets":
        for (const d of listDatasets()) console.log(d)
        return 0
      default:
        yield* Effect.sync(() => process.stderr.write(usage))
        return command === undefined || command === "help" || command === "--help" ? 0 : 2
    }
  })

/**
 * What `bingo` prints on stderr when a command fails. A typed failure (bad config, data, bag
 * file, weights, a NaN loss, ...) is one `bingo: <message>` naming the file, key, tensor or
 * step at fault, never a stack trace; a defect (a bug) is printed in full so it can be reported.
 */
export const describeFailure = (cause: Cause.Cause<unknown>): string => {
  const failure = cause.reasons.find(Cause.isFailReason)
  if (failure !== undefined) {
    const e = failure.error
    return `bingo: ${typeof e === "object" && e !== null && "message" in e ? String(e.message) : String(e)}\n`
  }
  return `bingo: internal error (a bug: please report it with this trace)\n${Cause.pretty(cause)}\n`
}

/**
 * The `bingo` command: run `argv` (without "node main.ts") and return the exit code. Failures
 * go to `stderr` (default: the process's) as `describeFailure` words them. main.ts is this plus
 * `process.exitCode`; tests call it directly to exercise the same path without a process.
 * `progress`: where `bingo run` draws its progress bars; default stderr when it is a terminal (a
 * TTY), none otherwise, so logs in files and CI keep their lines unchanged; `false`: none.
 */
export const runCli = async (
  argv: ReadonlyArray<string>,
  options: { readonly stderr?: (text: string) => void; readonly log?: boolean; readonly progress?: ProgressTerminal | false } = {}
): Promise<number> => {
  const terminal =
    options.progress === false
      ? undefined
      : (options.progress ??
        (process.stderr.isTTY === true
          ? { write: (text: string) => void process.stderr.write(text), columns: () => process.stderr.columns || 80 }
          : undefined))
  const progress: { terminal?: ProgressTerminal; bar?: ProgressBar } = terminal === undefined ? {} : { terminal }
  const pretty = Logger.consolePretty()
  // a log line erases the bar, is printed as always, and the bar is drawn again below it
  const logger =
    terminal === undefined
      ? pretty
      : Logger.make<unknown, void>((o) => {
          progress.bar?.clear()
          pretty.log(o)
          progress.bar?.redraw()
        })
  const exit = await Effect.runPromiseExit(
    program(argv, progress).pipe(Effect.provide(Logger.layer(options.log === false ? [] : [logger])))
  )
  progress.bar?.clear()
  if (Exit.isSuccess(exit)) return exit.value
  const write = options.stderr ?? ((text: string) => void process.stderr.write(text))
  write(describeFailure(exit.cause))
  return 1
}
