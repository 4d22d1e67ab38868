import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { planCells } from "../src/study/cellPlan.ts"
import { type CellRecord, writeCellRecord, writeStudyFile } from "../src/study/CellRecord.ts"
import { reportStudy } from "../src/study/runStudy.ts"
import { loadStudy } from "../src/study/Study.ts"
import { cellRecordFixture, tableOnlyBase } from "./studyFixture.ts"

const base = tableOnlyBase

const studyYaml = [
  "name: page",
  "config: base.yaml",
  "outDir: out",
  "seeds: [0, 1]",
  "headline: [linearTop1]",
  "arms:",
  "  - name: knn",
  "  - name: random-bags",
  "    set: { bags.method: random }"
].join("\n")

const record = (arm: string, seed: number, index: number, linear: number): CellRecord =>
  cellRecordFixture({ study: "page", arm, seed, index, linear })

describe("the study's report.html", () => {
  it.effect(
    "holds the table, a bar chart per headline metric and every cell with its status and a link to its folder (and its report)",
    () =>
      Effect.gen(function* () {
        const dir = mkdtempSync(join(tmpdir(), "bingo-study-report-"))
        writeFileSync(join(dir, "base.yaml"), base)
        writeFileSync(join(dir, "study.yaml"), studyYaml)
        const study = yield* loadStudy(join(dir, "study.yaml"))
        const cells = planCells(study)
        expect(cells.map((c) => `${c.arm}/${c.seed}`)).toEqual(["knn/0", "random-bags/0", "knn/1", "random-bags/1"])
        // knn: both seeds finished; random-bags: seed 0 failed, seed 1 not run
        yield* writeCellRecord(cells[0]!.recordPath, record("knn", 0, 0, 0.6))
        yield* writeCellRecord(cells[2]!.recordPath, record("knn", 1, 2, 0.7))
        yield* writeStudyFile(
          cells[1]!.failurePath,
          JSON.stringify({
            study: "page",
            arm: "random-bags",
            seed: 0,
            index: 1,
            error: { _tag: "TrainingCollapsed", message: "distillation collapsed <here>" },
            commit: null,
            failedAt: "2026-01-01T00:00:00.000Z"
          })
        )
        mkdirSync(cells[0]!.dir, { recursive: true })
        writeFileSync(join(cells[0]!.dir, "report.html"), "<!doctype html>")
        yield* reportStudy(study)
        const html = readFileSync(join(study.outDir, "report.html"), "utf8")
        expect(html).toContain("<title>bingo study: page</title>")
        expect(html).toContain("2 of 4 cells finished")
        // the table: mean ± sample std (n) of results.md
        expect(html).toContain('<tr><td>knn</td><td class="num">65.0 ± 7.1 (2)</td>')
        // the bar chart of the headline metric, inline, with drawn bars
        const chart = /<figure class="chart" data-chart="bars-linearTop1">(.*?)<\/figure>/s.exec(html)![1]!
        expect(chart).toMatch(/<g class="mark-rect role-mark[^"]*"[^>]*><path /)
        // every cell, its status and its folder (relative links), the report when the cell has one
        const rows = [
          ...html.matchAll(/<tr><td class="num">(\d)<\/td><td>([^<]+)<\/td><td class="num">(\d)<\/td><td>(.*?)<\/td><td>(.*?)<\/td><\/tr>/g)
        ].map((m) => m.slice(1))
        expect(rows).toEqual([
          [
            "1",
            "knn",
            "0",
            "finished",
            '<a href="cells/knn/seed-0/">cells/knn/seed-0</a> (<a href="cells/knn/seed-0/report.html">report</a>)'
          ],
          [
            "2",
            "random-bags",
            "0",
            '<span class="warning">failed: TrainingCollapsed: distillation collapsed &lt;here&gt;</span>',
            '<a href="cells/random-bags/seed-0/">cells/random-bags/seed-0</a>'
          ],
          ["3", "knn", "1", "finished", '<a href="cells/knn/seed-1/">cells/knn/seed-1</a>'],
          ["4", "random-bags", "1", "not run yet", '<a href="cells/random-bags/seed-1/">cells/random-bags/seed-1</a>']
        ])
        expect(html).not.toMatch(/<script|<link|src="https?:|href="https?:/)
      })
  )
})
