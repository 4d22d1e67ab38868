import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { readYamlFile } from "../src/loadConfig.ts"
import { planCells } from "../src/study/cellPlan.ts"
import { type CellRecord, writeCellRecord } from "../src/study/CellRecord.ts"
import { reportStudy } from "../src/study/runStudy.ts"
import { decodeStudy, loadStudy } from "../src/study/Study.ts"
import { differencesText, formatSigned } from "../src/study/studyTable.ts"
import { cellRecordFixture, markdownRowsAfter, tableOnlyBase } from "./studyFixture.ts"

const base = tableOnlyBase

/** A folder holding base.yaml (and study.yaml when given). */
const folder = (study?: string) => {
  const dir = mkdtempSync(join(tmpdir(), "bingo-study-differences-"))
  writeFileSync(join(dir, "base.yaml"), base)
  if (study !== undefined) writeFileSync(join(dir, "study.yaml"), study)
  return dir
}

const rawStudy = { config: "base.yaml", outDir: "out", seeds: [0, 1, 2], arms: [{ name: "a" }, { name: "b" }] }

const record = (arm: string, seed: number, linear: number, randomInit?: number): CellRecord =>
  cellRecordFixture({
    study: "diff",
    arm,
    seed,
    index: 4 * seed + ["a", "b", "c", "d"].indexOf(arm),
    linear,
    ...(randomInit === undefined ? {} : { randomInit })
  })

/** The rows of the markdown table under `### <title>` (header, then body), cells trimmed. */
const tableRows = (md: string, title: string) => markdownRowsAfter(md, `### ${title}`)

describe("comparisons in the study file", () => {
  it.effect(
    "an unknown name, a row compared with itself or a teacher row is a StudyComparisonError naming the entry and the valid names",
    () =>
      Effect.gen(function* () {
        const path = join(folder(), "study.yaml")
        const unknown = yield* Effect.flip(
          decodeStudy(
            {
              ...rawStudy,
              comparisons: [
                ["a", "b"],
                ["a", "bee"]
              ]
            },
            path
          )
        )
        expect(unknown._tag).toBe("StudyComparisonError")
        if (unknown._tag !== "StudyComparisonError") return
        expect({ field: unknown.field, name: unknown.name, valid: unknown.valid }).toEqual({
          field: "comparisons[1][1]",
          name: "bee",
          valid: ["a", "b", "random init"]
        })
        expect(unknown.message).toBe(`${path}: comparisons[1][1]: unknown arm or baseline 'bee'; valid names: 'a', 'b', 'random init'`)
        for (const [pair, field, reason] of [
          [["teacher", "a"], "comparisons[0][0]", "unknown arm or baseline 'teacher'"],
          [["b", "b"], "comparisons[0][1]", "'b' is compared with itself"]
        ] as const) {
          const error = yield* Effect.flip(decodeStudy({ ...rawStudy, comparisons: [pair] }, path))
          expect(error._tag === "StudyComparisonError" && { field: error.field, reason: error.reason }).toEqual({ field, reason })
        }
        // not a pair: the schema's ConfigError
        const single = yield* Effect.flip(decodeStudy({ ...rawStudy, comparisons: [["a"]] }, path))
        expect(single._tag === "ConfigError" && single.reason).toMatch(/^comparisons\[0\]/)
      })
  )

  it.effect("`random init` is a valid name when the cells evaluate the random student, one per student architecture", () =>
    Effect.gen(function* () {
      const path = join(folder(), "study.yaml")
      const study = yield* decodeStudy({ ...rawStudy, comparisons: [["b", "random init"]] }, path)
      expect(study.comparisons).toEqual([
        { a: { label: "b", kind: "arm", arm: "b" }, b: { label: "random init", kind: "randomInit", arm: "a" } }
      ])
      const wide = { ...rawStudy, arms: [...rawStudy.arms, { name: "wide", set: { "student.widthMultiplier": 0.5 } }] }
      const two = yield* Effect.flip(decodeStudy({ ...wide, comparisons: [["wide", "random init"]] }, path))
      expect(two._tag === "StudyComparisonError" && two.valid).toEqual([
        "a",
        "b",
        "wide",
        "random init (a student)",
        "random init (wide student)"
      ])
      const labelled = yield* decodeStudy({ ...wide, comparisons: [["wide", "random init (wide student)"]] }, path)
      expect(labelled.comparisons[0]!.b).toEqual({ label: "random init (wide student)", kind: "randomInit", arm: "wide" })
      // without eval.randomBaseline there is no random student to compare with
      const dir = folder()
      writeFileSync(join(dir, "base.yaml"), `${base}\neval: { randomBaseline: false }`)
      const none = yield* Effect.flip(decodeStudy({ ...rawStudy, comparisons: [["a", "random init"]] }, join(dir, "study.yaml")))
      expect(none._tag === "StudyComparisonError" && none.valid).toEqual(["a", "b"])
    })
  )

  it.effect("comparisons change no cell: a study with and without them plans identical cells (also examples/fashion-study)", () =>
    Effect.gen(function* () {
      const path = join(folder(), "study.yaml")
      const without = yield* decodeStudy(rawStudy, path)
      const withPairs = yield* decodeStudy({ ...rawStudy, comparisons: [["a", "b"]] }, path)
      expect(withPairs.comparisons).toHaveLength(1)
      expect(planCells(withPairs)).toEqual(planCells(without))
      const fashion = resolve(import.meta.dirname, "../../../examples/fashion-study/study.yaml")
      const raw = (yield* readYamlFile(fashion)) as Record<string, unknown>
      expect(raw["comparisons"]).toBeDefined()
      const { comparisons: _, ...rest } = raw
      const study = yield* decodeStudy(raw, fashion)
      expect(study.comparisons).toHaveLength(15)
      expect(planCells(study)).toEqual(planCells(yield* decodeStudy(rest, fashion)))
    })
  )
})

describe("the table's differences", () => {
  it.effect("per pair and headline metric from the cell files: d, s_d, both flags; missing seeds, n = 1 and n = 0", () =>
    Effect.gen(function* () {
      const dir = folder(
        [
          "name: diff",
          "config: base.yaml",
          "outDir: out",
          "seeds: [0, 1, 2]",
          "headline: [linearTop1]",
          "arms: [{ name: a }, { name: b }, { name: c }, { name: d }]",
          "comparisons: [[a, b], [b, a], [a, c], [a, d], [d, c], [a, random init]]"
        ].join("\n")
      )
      const study = yield* loadStudy(join(dir, "study.yaml"))
      const cell = (arm: string, seed: number) => join(study.outDir, "cells", arm, `seed-${seed}`, "cell.json")
      // a: 70, 80, 90 (its cells evaluate the random student: 50, 60, 70); b: a minus 2, 1.5, 2.5 points;
      // c: seeds 0 and 2 only; d: seed 1 only
      for (const [seed, a, b, random] of [
        [0, 0.7, 0.68, 0.5],
        [1, 0.8, 0.785, 0.6],
        [2, 0.9, 0.875, 0.7]
      ] as const) {
        yield* writeCellRecord(cell("a", seed), record("a", seed, a, random))
        yield* writeCellRecord(cell("b", seed), record("b", seed, b))
      }
      yield* writeCellRecord(cell("c", 0), record("c", 0, 0.6))
      yield* writeCellRecord(cell("c", 2), record("c", 2, 0.75))
      yield* writeCellRecord(cell("d", 1), record("d", 1, 0.5))
      const { results, table } = yield* reportStudy(study)
      expect(results.finished).toBe(9)

      const ab = results.differences[0]!
      expect({ a: ab.a, b: ab.b, metric: ab.metric, seeds: ab.seeds, n: ab.n }).toEqual({
        a: "a",
        b: "b",
        metric: "linearTop1",
        seeds: [0, 1, 2],
        n: 3
      })
      expect(ab.d).toBeCloseTo(0.02, 12)
      expect(ab.sd).toBeCloseTo(0.005, 12)
      expect(ab.unpairedStd).toBeCloseTo(Math.sqrt(0.01 + 0.009525), 12)
      expect(results.differences.map((d) => [d.a, d.b, d.paired, d.unpaired])).toEqual([
        ["a", "b", true, false],
        ["b", "a", true, false],
        ["a", "c", true, false],
        ["a", "d", undefined, undefined],
        ["d", "c", undefined, undefined],
        ["a", "random init", true, false]
      ])

      // results.md: the section's text, then one table per headline metric, in points
      expect(table).toContain(`## Differences\n\n${differencesText}\n\n### linear top-1\n`)
      expect(tableRows(table, "linear top-1")).toEqual([
        ["A - B", "seeds", "n", "d", "s_d", "paired", "√(s_A² + s_B²)", "unpaired"],
        // s_d = 0.005; √(0.01 + 0.009525) = 0.1397
        ["a - b", "0, 1, 2", "3", "+2.0", "0.5", "yes", "14.0", "no"],
        ["b - a", "0, 1, 2", "3", "-2.0", "0.5", "yes", "14.0", "no"],
        // seeds 0 and 2: differences 10 and 15 points, s_d = 2.5 √2 = 3.54; √(0.02 + 0.01125) = 0.1768
        ["a - c", "0, 2", "2", "+12.5", "3.5", "yes", "17.7", "no"],
        ["a - d", "1", "1", "+30.0", "–", "–", "–", "–"],
        ["d - c", "none", "0", "–", "–", "–", "–", "–"],
        // 20 points on every seed: s_d = 0; √(0.01 + 0.01) = 0.1414
        ["a - random init", "0, 1, 2", "3", "+20.0", "0.0", "yes", "14.1", "no"]
      ])
      expect(table.indexOf("## Differences")).toBeLessThan(table.indexOf("Missing cells"))
      // results.json: the same numbers
      const json = JSON.parse(readFileSync(join(study.outDir, "results.json"), "utf8"))
      expect(json.differences[2]).toEqual({
        a: "a",
        b: "c",
        metric: "linearTop1",
        seeds: [0, 2],
        n: 2,
        d: results.differences[2]!.d,
        sd: results.differences[2]!.sd,
        unpairedStd: results.differences[2]!.unpairedStd,
        paired: true,
        unpaired: false
      })
      expect(json.differences[4]).toEqual({ a: "d", b: "c", metric: "linearTop1", seeds: [], n: 0 })
      // report.html: the same rows, one table per headline metric
      const html = readFileSync(join(study.outDir, "report.html"), "utf8")
      expect(html).toContain('id="differences"')
      expect(html).toContain("<h3>linear top-1</h3>")
      expect(html).toContain(
        '<tr><td>a - b</td><td>0, 1, 2</td><td class="num">3</td><td class="num">+2.0</td><td class="num">0.5</td><td>yes</td><td class="num">14.0</td><td>no</td></tr>'
      )
      expect(html).not.toContain("**paired**")
    })
  )

  it.effect("no comparisons, no section", () =>
    Effect.gen(function* () {
      const dir = folder(["config: base.yaml", "outDir: out", "seeds: [0]", "arms: [{ name: a }]"].join("\n"))
      const { results, table } = yield* reportStudy(yield* loadStudy(join(dir, "study.yaml")))
      expect(results.differences).toEqual([])
      expect(table).not.toContain("Differences")
      expect(readFileSync(join(dir, "out", "report.html"), "utf8")).not.toContain('id="differences"')
    })
  )

  it("signed points with one decimal", () => {
    expect([0.0123, -0.0456, 0, -0.0001].map(formatSigned)).toEqual(["+1.2", "-4.6", "+0.0", "-0.0"])
  })
})
