import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { writeCellRecord } from "../src/study/CellRecord.ts"
import { reportStudy } from "../src/study/runStudy.ts"
import { loadStudy } from "../src/study/Study.ts"
import { runsText } from "../src/study/studyTable.ts"
import { cellRecordFixture, markdownRowsAfter, tableOnlyBase } from "./studyFixture.ts"

/** The rows of the markdown table under `## Runs` (header, then body), cells trimmed. */
const runsRows = (md: string) => markdownRowsAfter(md, "## Runs")

describe("the table's runs section", () => {
  it.effect("per arm from the cell files: bags only where the loss reads a positive, purity, losses, minutes, RSS, commits; totals", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "bingo-study-runs-"))
      writeFileSync(join(dir, "base.yaml"), tableOnlyBase)
      writeFileSync(
        join(dir, "study.yaml"),
        [
          "name: runs",
          "config: base.yaml",
          "outDir: out",
          "seeds: [0, 1]",
          "headline: [linearTop1]",
          "arms:",
          "  - { name: bingo, set: { distill.loss.name: bingo, bags.method: knn, bags.k: 3 } }",
          "  - { name: kmeans, set: { distill.loss.name: bingo, bags.method: kmeans, bags.k: 4, bags.clusters: 7 } }",
          "  - { name: moco, set: { distill.loss.name: moco, distill.loss.options: {} } }",
          "  - { name: none, set: { distill.loss.name: infonce, distill.loss.options: {} } }"
        ].join("\n")
      )
      const study = yield* loadStudy(join(dir, "study.yaml"))
      const cell = (arm: string, seed: number, fields: Partial<Parameters<typeof writeCellRecord>[1]>) =>
        writeCellRecord(join(study.outDir, "cells", arm, `seed-${seed}`, "cell.json"), {
          ...cellRecordFixture({
            study: "runs",
            arm,
            seed,
            index: 4 * seed + ["bingo", "kmeans", "moco", "none"].indexOf(arm),
            linear: 0.5
          }),
          ...fields
        })
      // bingo: two cells (2 and 1 native threads); kmeans: one, without a commit; moco: two, one with a thread count and one
      // without (as cells older than the record), its records have a purity: the loss reads no bags
      yield* cell("bingo", 0, {
        distillLosses: [8, 6, 5],
        bagPurity: 0.8,
        seconds: { distill: 500, total: 600 },
        peakRssMiB: 1000,
        gitCommit: "abcdef0123456789",
        finishedAt: "2026-01-01T01:00:00.000Z",
        computeThreads: 2
      })
      yield* cell("bingo", 1, {
        distillLosses: [7, 6, 4],
        bagPurity: 0.8,
        seconds: { total: 900 },
        peakRssMiB: 1200,
        gitCommit: "1234567aaaa",
        finishedAt: "2026-01-01T03:00:00.000Z",
        computeThreads: 1
      })
      yield* cell("kmeans", 0, { distillLosses: [9, 8], bagPurity: 0.65, seconds: { total: 300 }, gitCommit: null, computeThreads: 2 })
      yield* cell("moco", 1, { distillLosses: [7.5, 5.25], bagPurity: 0.8, seconds: { total: 120 }, computeThreads: 2 })
      yield* cell("moco", 0, {
        distillLosses: [7.5, 5.25],
        bagPurity: 0.8,
        seconds: { total: 120 },
        finishedAt: "2025-12-31T23:00:00.000Z"
      })
      const { results, table } = yield* reportStudy(study)

      const bingo = results.runs[0]!
      expect(bingo.firstLoss).toBe(7.5)
      expect(bingo.lastLoss).toBe(4.5)
      expect(bingo.seconds).toEqual({ mean: 750, min: 600, max: 900 })
      expect(table).toContain(`## Runs\n\n${runsText}\n`)
      expect(runsRows(table)).toEqual([
        ["arm", "cells", "bags", "purity %", "loss first → last epoch", "minutes per cell", "peak RSS MiB", "threads", "commits"],
        ["bingo", "2", "knn K=3", "80.0", "7.500 → 4.500", "12.5 (10.0-15.0)", "1200", "2, 1", "abcdef0, 1234567"],
        ["kmeans", "1", "kmeans K=4 (7 clusters)", "65.0", "9.000 → 8.000", "5.0 (5.0-5.0)", "100", "2", "unknown"],
        ["moco", "2", "none", "–", "7.500 → 5.250", "2.0 (2.0-2.0)", "100", "2; 1 unrecorded", "unknown"],
        ["none", "0", "none", "–", "–", "–", "–", "–", "–"]
      ])
      // 600 + 900 + 300 + 120 + 120 s = 34 min
      expect(table).toContain(
        "5 finished cells: 0 h 34 min of wall-clock in all (the sum of the cells' times; the shared teacher and bags, made before the first cell, not included), finished between 2025-12-31T23:00:00.000Z and 2026-01-01T03:00:00.000Z; backend cpu."
      )
      // report.html has the same rows
      const html = readFileSync(join(study.outDir, "report.html"), "utf8")
      expect(html).toContain("kmeans K=4 (7 clusters)")
      expect(html).toContain("0 h 34 min of wall-clock")
    })
  )
})
