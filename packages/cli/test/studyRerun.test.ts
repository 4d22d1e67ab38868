import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger } from "effect"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { vi } from "vitest"
import { runCli } from "../src/runCli.ts"
import { planCells } from "../src/study/cellPlan.ts"
import { formatRerun, rerunCell } from "../src/study/rerunCell.ts"
import { runStudy } from "../src/study/runStudy.ts"
import { loadStudy } from "../src/study/Study.ts"
import { StudyRerunError } from "../src/study/StudyError.ts"
import { parseStudyArgs } from "../src/study/studyCommand.ts"
import { tinyStudyBase } from "./studyFixture.ts"

const studyYaml = ["name: rerun", "config: base.yaml", "outDir: out", "seeds: [0, 1]", "arms:", "  - name: knn"].join("\n")

const studyDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "bingo-rerun-"))
  writeFileSync(join(dir, "base.yaml"), tinyStudyBase.join("\n"))
  writeFileSync(join(dir, "study.yaml"), studyYaml)
  return dir
}

const quiet = Logger.layer([])

describe("bingo study --rerun <arm>/<seed>", () => {
  it("command line: --rerun and --into, alone", () => {
    expect(parseStudyArgs(["s.yaml", "--rerun", "knn/1"])).toEqual({ file: "s.yaml", mode: "rerun", rerun: { cell: "knn/1" } })
    expect(parseStudyArgs(["s.yaml", "--rerun", "knn/1", "--into", "/tmp/x"])).toEqual({
      file: "s.yaml",
      mode: "rerun",
      rerun: { cell: "knn/1", into: "/tmp/x" }
    })
    expect(parseStudyArgs(["s.yaml", "--rerun"])).toEqual({ bad: "--rerun needs <arm>/<seed>, e.g. --rerun infonce/2" })
    expect(parseStudyArgs(["s.yaml", "--into", "/tmp/x"])).toEqual({ bad: "--into goes with --rerun <arm>/<seed>" })
    expect(parseStudyArgs(["s.yaml", "--rerun", "knn/1", "--table"])).toEqual({
      bad: "--rerun runs one cell: it takes no --table, --dry-run, --shard or --retry-failed"
    })
  })

  it.effect(
    "reruns a finished cell elsewhere and finds every value the same; an edited cell.json is found out; bad cells are StudyRerunErrors",
    () =>
      Effect.gen(function* () {
        const dir = studyDir()
        const study = yield* loadStudy(join(dir, "study.yaml"))
        const [cell0] = planCells(study)
        // seed 1 has not run yet: nothing to compare with
        yield* runStudy(study, { shard: { index: 0, count: 2 } })
        const failure = (which: string, into?: string) =>
          Effect.flip(rerunCell(study, which, into)).pipe(
            Effect.map((e) => {
              if (!(e instanceof StudyRerunError)) throw e
              return e.message
            })
          )
        expect(yield* failure("knn/1")).toMatch(/^--rerun knn\/1: it has not finished \(nothing to compare with\): cannot read /)
        expect(yield* failure("knn/7")).toBe("--rerun knn/7: no such cell in the study; cells: knn/0, knn/1")
        expect(yield* failure("knn")).toMatch(/^--rerun knn: not <arm>\/<seed>/)
        expect(yield* failure("knn/0", join(study.outDir, "again"))).toMatch(
          /is inside the study's outDir; rerun into another folder \(--into\)$/
        )

        const into = join(dir, "rerun-knn-0")
        // as a cpu-native cell would have recorded it (this one ran on wasm, which has no count)
        writeFileSync(cell0!.recordPath, JSON.stringify({ ...JSON.parse(readFileSync(cell0!.recordPath, "utf8")), computeThreads: 3 }))
        const committed = readFileSync(cell0!.recordPath, "utf8")
        const before = process.env.BINGO_NATIVE_THREADS
        delete process.env.BINGO_NATIVE_THREADS
        const same = yield* rerunCell(study, "knn/0", into)
        expect(process.env.BINGO_NATIVE_THREADS).toBe("3") // the recorded count, for the runtime the rerun starts
        expect(same.threads).toBe("3")
        if (before === undefined) delete process.env.BINGO_NATIVE_THREADS
        else process.env.BINGO_NATIVE_THREADS = before
        expect(same.identical).toBe(true)
        expect(same.dir).toBe(into)
        expect(same.values.map((v) => v.what)).toEqual([
          "knnTop1",
          "knnTop5",
          "linearTop1",
          "linearTop5",
          "labels10pctTop1",
          "labels10pctTop5",
          "bagPurity",
          "distillLoss[epoch 1]"
        ])
        expect(same.values.every((v) => v.recorded !== null && v.recorded === v.rerun)).toBe(true)
        expect(formatRerun(same).split("\n").at(-1)).toBe("reproduced bit for bit: all 8 values the same")
        expect(readFileSync(cell0!.recordPath, "utf8")).toBe(committed) // the study's own cell is untouched

        // the recorded cell edited by hand: the rerun folder's finished cell is compared again, not rerun
        const record = JSON.parse(readFileSync(cell0!.recordPath, "utf8"))
        record.scores.linearTop1 += 0.25
        writeFileSync(cell0!.recordPath, JSON.stringify(record))
        const printed: Array<string> = []
        const spy = vi.spyOn(console, "log").mockImplementation((line: unknown) => void printed.push(String(line)))
        const code = yield* Effect.promise(() =>
          runCli(["study", join(dir, "study.yaml"), "--rerun", "knn/0", "--into", into], { log: false })
        )
        spy.mockRestore()
        expect(code).toBe(1)
        expect(printed.join("\n")).toMatch(/linearTop1 +recorded [0-9.]+ +rerun [0-9.]+ +-0\.25/)
        expect(printed.join("\n")).toMatch(/not reproduced: 1 of 8 values differ/)
      }).pipe(Effect.provide(quiet)),
    120_000
  )
})
