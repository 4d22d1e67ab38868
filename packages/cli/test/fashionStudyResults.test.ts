import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { repoRoot } from "./cliProcess.ts"
import { planCells } from "../src/study/cellPlan.ts"
import { loadStudy } from "../src/study/Study.ts"
import { formatStudyTable, mergeCells } from "../src/study/studyTable.ts"

/**
 * The committed Fashion-MNIST study (examples/fashion-study): its results.md is what
 * `bingo study --table` makes from the committed cell files, and every table row docs/results.md
 * quotes is a row of that results.md. So no number in the table or the doc can drift from the
 * cell files (the follow-up study's rows may be quoted too). (No cell is run: the table step only
 * reads cell.json files.)
 */
describe("the committed Fashion-MNIST study", () => {
  const results = join(repoRoot, "examples/fashion-study/results/results.md")

  it.effect("results.md is the table step's output from the committed cell files", () =>
    Effect.gen(function* () {
      const study = yield* loadStudy(join(repoRoot, "examples/fashion-study/study.yaml"))
      const merged = yield* mergeCells(study, planCells(study))
      expect(merged.finished).toBeGreaterThan(0)
      expect(formatStudyTable(merged, study.outDir)).toBe(readFileSync(results, "utf8"))
    })
  )

  it("every table row of docs/results.md is a row of results.md or of the follow-up's results.md", () => {
    const doc = readFileSync(join(repoRoot, "docs/results.md"), "utf8").split("\n")
    const followUp = join(repoRoot, "examples/fashion-study/follow-up/results.md")
    const table = new Set([...readFileSync(results, "utf8").split("\n"), ...readFileSync(followUp, "utf8").split("\n")])
    const quoted = doc.filter((line) => line.startsWith("| ") && line.endsWith(" |"))
    expect(quoted.length).toBeGreaterThan(0)
    expect(quoted.filter((line) => !table.has(line))).toEqual([])
  })
})

describe("the Fashion-MNIST follow-up study", () => {
  it.effect("follow-up/results.md is the table step's output from its committed cell files", () =>
    Effect.gen(function* () {
      const study = yield* loadStudy(join(repoRoot, "examples/fashion-study/follow-up.yaml"))
      const merged = yield* mergeCells(study, planCells(study))
      expect(merged.finished).toBeGreaterThan(0)
      expect(formatStudyTable(merged, study.outDir)).toBe(readFileSync(join(study.outDir, "results.md"), "utf8"))
    })
  )

  it.effect("decodes, and reads study.yaml's teacher and bags (shared:)", () =>
    Effect.gen(function* () {
      const main = yield* loadStudy(join(repoRoot, "examples/fashion-study/study.yaml"))
      const followUp = yield* loadStudy(join(repoRoot, "examples/fashion-study/follow-up.yaml"))
      expect(followUp.sharedDir).toBe(main.sharedDir)
      expect(followUp.outDir).not.toBe(main.outDir)
      expect(JSON.stringify(followUp.base.config.teacher)).toBe(JSON.stringify(main.base.config.teacher))
      expect(planCells(followUp).map((c) => c.config.teacher.weights)).toEqual(
        planCells(followUp).map(() => join(main.sharedDir, "teacher.safetensors"))
      )
    })
  )
})
