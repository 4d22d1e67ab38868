import { Effect } from "effect"
import { makeReport } from "./makeReport.ts"

/** The `bingo report` lines of the usage text. */
export const reportUsage = `${"  bingo report <runDir>".padEnd(55)}<runDir>/report.html: one self-contained page of a run:
${" ".repeat(55)}curves, results, config, times (bingo run writes it too)
`

/** `bingo report <runDir>`: write the report and print its path. */
export const reportCommand = (runDir: string) =>
  Effect.gen(function* () {
    const path = yield* makeReport(runDir)
    yield* Effect.sync(() => console.log(`report: ${path}`))
    return 0
  })

/**
 * The report at the end of `bingo run`. The run's results are written by then, so a report that
 * cannot be made is a warning naming why, not a failed run (`bingo report <outDir>` retries it).
 */
export const reportAfterRun = (outDir: string) =>
  makeReport(outDir).pipe(
    Effect.flatMap((path) => Effect.sync(() => console.log(`report: ${path}`))),
    Effect.catch((e) => Effect.logWarning(`report not written: ${e.message} (retry with: bingo report ${outDir})`))
  )
