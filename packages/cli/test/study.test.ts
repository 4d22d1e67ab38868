import { describe, expect, it } from "@effect/vitest"
import { tinyStudyBase } from "./studyFixture.ts"
import { Effect, Logger } from "effect"
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { vi } from "vitest"
import { runCli } from "../src/runCli.ts"
import { type Cell, inShard, parseShard, planCells, sharedBagsName } from "../src/study/cellPlan.ts"
import { type CellRecord, readCellRecord } from "../src/study/CellRecord.ts"
import { dryRunStudy } from "../src/study/dryRun.ts"
import { cellWork, defaultImagesPerSecond, formatDuration, rateFor } from "../src/study/estimateTime.ts"
import { reportStudy, runStudy } from "../src/study/runStudy.ts"
import { decodeStudy, loadStudy, type Study } from "../src/study/Study.ts"
import { parseStudyArgs } from "../src/study/studyCommand.ts"
import { formatSummary, metricLabel, summarise } from "../src/study/studyTable.ts"

const baseYaml = tinyStudyBase.join("\n")

const studyYaml = [
  "name: smoke",
  "config: base.yaml",
  "outDir: out",
  "seeds: [0, 1]",
  "headline: [knnTop1, labels10pctTop1]",
  "arms:",
  "  - name: knn",
  "  - name: random-bags",
  "    set: { bags.method: random }"
].join("\n")

/** A folder holding base.yaml and study.yaml (the study's raw fields can be changed for decode tests). */
const studyDir = (study = studyYaml) => {
  const dir = mkdtempSync(join(tmpdir(), "bingo-study-"))
  writeFileSync(join(dir, "base.yaml"), baseYaml)
  writeFileSync(join(dir, "study.yaml"), study)
  return dir
}

const rawStudy = { config: "base.yaml", outDir: "out", seeds: [0, 1], arms: [{ name: "a" }] }
const decodeIn = (dir: string, raw: unknown) => decodeStudy(raw, join(dir, "study.yaml"))

const quiet = Logger.layer([])

describe("study file", () => {
  it.effect("decodes with defaults: headline knnTop1 + linearTop1, name from the file, paths from the study's folder", () =>
    Effect.gen(function* () {
      const dir = studyDir()
      const study = yield* decodeIn(dir, rawStudy)
      expect(study.name).toBe("study")
      expect(study.headline).toEqual(["knnTop1", "linearTop1"])
      expect(study.outDir).toBe(join(dir, "out"))
      expect(study.base.path).toBe(join(dir, "base.yaml"))
      expect(study.arms.map((a) => a.config.seed)).toEqual([3])
    })
  )

  it.effect("an unknown key, in the study or in an arm's set, is a ConfigError naming the key path", () =>
    Effect.gen(function* () {
      const dir = studyDir()
      const unknown = yield* Effect.flip(decodeIn(dir, { ...rawStudy, seedz: [1] }))
      expect(unknown._tag).toBe("ConfigError")
      expect(unknown.path).toBe(join(dir, "study.yaml"))
      expect(unknown.reason).toMatch(/^seedz: /)
      const armKey = yield* Effect.flip(decodeIn(dir, { ...rawStudy, arms: [{ name: "a", set: { "distill.epochz": 2 } }] }))
      expect(armKey._tag).toBe("ConfigError")
      expect(armKey.reason).toMatch(/^arms\[0\]\.set \(arm 'a', applied to .*base\.yaml\): distill\.epochz: /)
      const armValue = yield* Effect.flip(decodeIn(dir, { ...rawStudy, arms: [{ name: "a", set: { "bags.method": "faiss" } }] }))
      expect(armValue.reason).toMatch(/bags\.method: Expected "knn" \| "kmeans" \| "labels" \| "random", got "faiss"/)
    })
  )

  it.effect("duplicate arms or seeds and unknown headline metrics are ConfigErrors naming the entry", () =>
    Effect.gen(function* () {
      const dir = studyDir()
      const twice = yield* Effect.flip(decodeIn(dir, { ...rawStudy, arms: [{ name: "a" }, { name: "a" }] }))
      expect(twice.reason).toBe("arms[1].name: arm 'a' is listed twice")
      const seeds = yield* Effect.flip(decodeIn(dir, { ...rawStudy, seeds: [1, 2, 1] }))
      expect(seeds.reason).toBe("seeds[2]: seed 1 is listed twice")
      const metric = yield* Effect.flip(decodeIn(dir, { ...rawStudy, headline: ["knnTop1", "labels1pctTop1"] }))
      expect(metric.reason).toBe(
        "headline[1]: unknown metric 'labels1pctTop1'; available: knnTop1, knnTop5, linearTop1, linearTop5, labels10pctTop1, labels10pctTop5"
      )
      const badName = yield* Effect.flip(decodeIn(dir, { ...rawStudy, arms: [{ name: "../escape" }] }))
      expect(badName.reason).toMatch(/^arms\[0\]\.name: /)
    })
  )

  it.effect("an arm may not set what the study decides or shares: StudyArmError with the arm and key", () =>
    Effect.gen(function* () {
      const dir = studyDir()
      for (const key of ["seed", "outDir", "teacher.pretrain.lr", "dataset.options", "eval.randomBaseline"]) {
        const error = yield* Effect.flip(decodeIn(dir, { ...rawStudy, arms: [{ name: "a", set: { "distill.lr": 0.1, [key]: 1 } }] }))
        expect(error._tag).toBe("StudyArmError")
        if (error._tag === "StudyArmError") expect({ arm: error.arm, key: error.key }).toEqual({ arm: "a", key })
      }
    })
  )
})

describe("cell plan", () => {
  it.effect("arms x seeds, seed-major; each cell's seed, folder, shared teacher and bags, and which baselines it evaluates", () =>
    Effect.gen(function* () {
      const dir = studyDir()
      const study = yield* decodeIn(dir, {
        ...rawStudy,
        seeds: [5, 7],
        arms: [
          { name: "a" },
          { name: "b", set: { "bags.method": "kmeans", "bags.clusters": 10 } },
          { name: "wide", set: { "student.widthMultiplier": 0.5 } },
          { name: "file", set: { "bags.file": "my-bags.npy" } }
        ]
      })
      const cells = planCells(study)
      expect(cells.map((c) => `${c.index} ${c.arm} ${c.seed}`)).toEqual([
        "0 a 5",
        "1 b 5",
        "2 wide 5",
        "3 file 5",
        "4 a 7",
        "5 b 7",
        "6 wide 7",
        "7 file 7"
      ])
      const shared = join(dir, "out", "shared")
      const b7 = cells[5]!
      expect(b7.dir).toBe(join(dir, "out", "cells", "b", "seed-7"))
      expect(b7.recordPath).toBe(join(b7.dir, "cell.json"))
      expect(b7.config.seed).toBe(7)
      expect(b7.config.outDir).toBe(b7.dir)
      expect(b7.config.name).toBe("study/b/seed-7")
      expect(b7.config.teacher.weights).toBe(join(shared, "teacher.safetensors"))
      expect(b7.config.bags.file).toBe(join(shared, "bags-kmeans-k4-c10.npy"))
      expect(b7.shared).toEqual({
        teacher: join(shared, "teacher.safetensors"),
        bags: { path: join(shared, "bags-kmeans-k4-c10.npy"), method: "kmeans", k: 4, clusters: 10 }
      })
      // an arm naming its own bag file shares none
      expect(cells[3]!.config.bags.file).toBe("my-bags.npy")
      expect(cells[3]!.shared.bags).toBeUndefined()
      // the teacher once (cell 0); the random student once per seed and student architecture
      expect(cells.map((c) => c.config.eval.teacher)).toEqual([true, false, false, false, false, false, false, false])
      expect(cells.map((c) => c.config.eval.randomBaseline)).toEqual([true, false, true, false, true, false, true, false])
    })
  )

  it.effect("shared: another folder for the teacher and bags (resolved from the study's folder); default <outDir>/shared", () =>
    Effect.gen(function* () {
      const dir = studyDir()
      expect((yield* decodeIn(dir, rawStudy)).sharedDir).toBe(join(dir, "out", "shared"))
      const study = yield* decodeIn(dir, { ...rawStudy, outDir: "follow-up", shared: "out/shared" })
      expect(study.sharedDir).toBe(join(dir, "out", "shared"))
      const [cell] = planCells(study)
      expect(cell!.dir).toBe(join(dir, "follow-up", "cells", "a", "seed-0"))
      expect(cell!.config.teacher.weights).toBe(join(dir, "out", "shared", "teacher.safetensors"))
      expect(cell!.config.bags.file).toBe(join(dir, "out", "shared", "bags-knn-k4.npy"))
    })
  )

  it("names shared bag files by their setting", () => {
    expect(sharedBagsName({ method: "knn", k: 5, clusters: 10 })).toBe("bags-knn-k5.npy")
    expect(sharedBagsName({ method: "kmeans", k: 5, clusters: 10 })).toBe("bags-kmeans-k5-c10.npy")
    expect(sharedBagsName({ method: "random", k: 3 })).toBe("bags-random-k3.npy")
  })

  it.effect("--shard i/n: cells whose index mod n is i; i < n checked (InvalidShard)", () =>
    Effect.gen(function* () {
      expect(yield* parseShard("1/3")).toEqual({ index: 1, count: 3 })
      const cells = Array.from({ length: 7 }, (_, index) => ({ index }) as Cell)
      expect(cells.filter((c) => inShard(c, { index: 1, count: 3 })).map((c) => c.index)).toEqual([1, 4])
      for (const [text, reason] of [
        ["2/2", "i must be below n (shards are numbered 0 to 1)"],
        ["0/0", "n must be at least 1"],
        ["1", "expected i/n, e.g. 0/2 (0-based shard i of n)"],
        ["-1/2", "expected i/n, e.g. 0/2 (0-based shard i of n)"]
      ] as const) {
        const error = yield* Effect.flip(parseShard(text))
        expect({ tag: error._tag, shard: error.shard, reason: error.reason }).toEqual({ tag: "InvalidShard", shard: text, reason })
      }
    })
  )

  it("command line: one file, --shard, --dry-run or --table", () => {
    expect(parseStudyArgs(["s.yaml", "--shard", "0/2"])).toEqual({ file: "s.yaml", mode: "run", shard: "0/2" })
    expect(parseStudyArgs(["--dry-run", "s.yaml", "--shard=1/2"])).toEqual({ file: "s.yaml", mode: "dry-run", shard: "1/2" })
    expect(parseStudyArgs(["s.yaml", "--table"])).toEqual({ file: "s.yaml", mode: "table" })
    expect(parseStudyArgs(["s.yaml", "--retry-failed"])).toEqual({ file: "s.yaml", mode: "run", retryFailed: true })
    expect(parseStudyArgs(["s.yaml", "--table", "--shard", "0/2"])).toEqual({
      bad: "--table merges the cells of every shard; it takes no --shard"
    })
    expect(parseStudyArgs(["s.yaml", "--table", "--dry-run"])).toEqual({ bad: "--table and --dry-run exclude each other" })
    expect(parseStudyArgs([])).toEqual({ bad: "missing <study.yaml>" })
  })
})

describe("table arithmetic", () => {
  it("mean ± sample std (n) in percent with one decimal; one value has no std", () => {
    const s = summarise([0.5, 0.6, 0.7])
    expect(s.mean).toBeCloseTo(0.6, 12)
    expect(s.std).toBeCloseTo(0.1, 12) // sqrt((0.01 + 0 + 0.01) / 2)
    expect(formatSummary(s)).toBe("60.0 ± 10.0 (3)")
    expect(formatSummary(summarise([0.4]))).toBe("40.0 ± – (1)")
    expect(formatSummary(summarise([0.125, 0.25]))).toBe("18.8 ± 8.8 (2)") // std = 0.125 / sqrt(2) = 0.0884
    expect(() => summarise([])).toThrow(RangeError)
  })

  it("metric labels and durations", () => {
    expect(["knnTop1", "linearTop5", "labels1pctTop1", "labels0.5pctTop5", "other"].map(metricLabel)).toEqual([
      "kNN top-1",
      "linear top-5",
      "labels 1% top-1",
      "labels 0.5% top-5",
      "other"
    ])
    expect([4.24, 42, 200, 7500].map(formatDuration)).toEqual(["4.2 s", "42 s", "3 min 20 s", "2 h 05 min"])
  })
})

const mtimes = (paths: ReadonlyArray<string>) => paths.map((p) => ({ p, mtime: statSync(p).mtimeMs, ino: statSync(p).ino }))

/** mean and sample std of a metric over records, by hand. */
const byHand = (records: ReadonlyArray<CellRecord>, pick: (r: CellRecord) => number | undefined) => {
  const xs = records.map(pick).filter((x): x is number => x !== undefined)
  const mean = xs.reduce((a, x) => a + x, 0) / xs.length
  const std = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1))
  return { mean, std, n: xs.length }
}

describe("bingo study (2 arms x 2 seeds on tiny shapes)", () => {
  it.effect(
    "shards run apart and merge; finished cells are skipped; the teacher and each bag file are made once; the table is the cells' mean and std",
    () =>
      Effect.gen(function* () {
        const dir = studyDir()
        const study: Study = yield* loadStudy(join(dir, "study.yaml"))
        const out = join(dir, "out")
        const shared = (name: string) => join(out, "shared", name)
        const cellFile = (arm: string, seed: number) => join(out, "cells", arm, `seed-${seed}`, "cell.json")

        // before anything ran: the plan, an assumed rate, no training
        const plan = yield* dryRunStudy(study)
        expect(plan.split("\n").filter((l) => / to run /.test(l))).toHaveLength(4)
        expect(plan).toContain("teacher.safetensors (to make), bags-knn-k4.npy (to make), bags-random-k4.npy (to make)")
        expect(plan).toContain(`rate: ${defaultImagesPerSecond} images/s, assumed`)
        expect(existsSync(out)).toBe(false)

        // shard 0/2: cells 0 and 2 (arm knn, seeds 0 and 1) make the teacher and the kNN bags only
        const first = yield* runStudy(study, { shard: { index: 0, count: 2 } })
        expect(first.ran).toEqual([0, 2])
        expect(first.shared).toEqual({ teacher: true, bags: [shared("bags-knn-k4.npy")] })
        expect(existsSync(shared("bags-random-k4.npy"))).toBe(false)
        // the table step names the missing cells
        const partial = yield* reportStudy(study)
        expect(partial.results.finished).toBe(2)
        expect(partial.results.missing.map((c) => [c.index, c.arm, c.seed])).toEqual([
          [1, "random-bags", 0],
          [3, "random-bags", 1]
        ])
        expect(partial.table).toContain(
          "Missing cells (2): random-bags seed 0 (cells/random-bags/seed-0), random-bags seed 1 (cells/random-bags/seed-1)"
        )
        const sharedBefore = mtimes([shared("teacher.safetensors"), shared("bags-knn-k4.npy")])
        const shard0Cells = mtimes([cellFile("knn", 0), cellFile("knn", 1)])

        // shard 1/2: the other arm; the teacher and the kNN bags are reused, not rewritten
        const second = yield* runStudy(study, { shard: { index: 1, count: 2 } })
        expect(second.ran).toEqual([1, 3])
        expect(second.shared).toEqual({ teacher: false, bags: [shared("bags-random-k4.npy")] })
        expect(mtimes([shared("teacher.safetensors"), shared("bags-knn-k4.npy")])).toEqual(sharedBefore)
        expect(second.results.missing).toEqual([])

        // a full run afterwards runs nothing and rewrites no cell
        const again = yield* runStudy(study)
        expect(again.ran).toEqual([])
        expect(again.shared).toEqual({ teacher: false, bags: [] })
        expect(mtimes([cellFile("knn", 0), cellFile("knn", 1)])).toEqual(shard0Cells)

        // every cell read the shared files and recorded what it ran with
        const records = yield* Effect.forEach(planCells(study), (c) => readCellRecord(c.recordPath))
        expect(records.map((r) => [r.index, r.arm, r.seed])).toEqual([
          [0, "knn", 0],
          [1, "random-bags", 0],
          [2, "knn", 1],
          [3, "random-bags", 1]
        ])
        for (const r of records) {
          const config = r.config as Cell["config"]
          expect(config.seed).toBe(r.seed)
          expect(config.teacher.weights).toBe(shared("teacher.safetensors"))
          expect(config.bags.file).toBe(shared(r.arm === "knn" ? "bags-knn-k4.npy" : "bags-random-k4.npy"))
          expect(r.distillLosses).toHaveLength(1)
          expect(r.backend).toBe("wasm")
          expect(r.dataset).toEqual({ name: "shapes", train: 256, test: 128 })
          expect(Object.keys(r.scores!)).toEqual(["knnTop1", "knnTop5", "linearTop1", "linearTop5", "labels10pctTop1", "labels10pctTop5"])
          expect(r.seconds["total"]).toBeGreaterThan(0)
          expect(r.peakRssMiB).toBeGreaterThan(50)
          expect(r.gitCommit === null || /^[0-9a-f]{40}$/.test(r.gitCommit)).toBe(true)
        }
        // no cell pre-trained a teacher or mined bags of its own
        for (const c of planCells(study)) {
          expect(existsSync(join(c.dir, "teacher.safetensors"))).toBe(false)
          expect(existsSync(join(c.dir, "bags.npy"))).toBe(false)
        }
        // baselines: the teacher in cell 0 only, the random student in the first arm's cell of each seed
        expect(records.map((r) => Object.keys(r.baselines))).toEqual([["randomInit", "teacher", "randomTeacher"], [], ["randomInit"], []])

        // the table: mean and sample std over seeds, from the cell files
        const { results, table } = yield* reportStudy(study)
        expect(results.metrics.slice(0, 2)).toEqual(["knnTop1", "labels10pctTop1"])
        expect(results.rows.map((r) => [r.label, r.kind])).toEqual([
          ["knn", "arm"],
          ["random-bags", "arm"],
          ["random init", "baseline"],
          ["teacher", "baseline"],
          ["teacher (random init)", "baseline"]
        ])
        for (const [row, arm] of [
          [0, "knn"],
          [1, "random-bags"]
        ] as const) {
          for (const metric of ["knnTop1", "linearTop1", "labels10pctTop1"]) {
            const expected = byHand(
              records.filter((r) => r.arm === arm),
              (r) => r.scores![metric]
            )
            const got = results.rows[row]!.metrics[metric]!
            expect(got.n).toBe(2)
            expect(got.mean).toBeCloseTo(expected.mean, 12)
            expect(got.std).toBeCloseTo(expected.std, 12)
            expect(table).toContain(`${(100 * expected.mean).toFixed(1)} ± ${(100 * expected.std).toFixed(1)} (2)`)
          }
        }
        const random = byHand(records, (r) => r.baselines.randomInit?.["knnTop1"])
        expect(results.rows[2]!.metrics["knnTop1"]!.mean).toBeCloseTo(random.mean, 12)
        expect(results.rows[2]!.metrics["knnTop1"]!.n).toBe(2)
        expect(results.rows[3]!.metrics["knnTop1"]).toEqual({
          mean: records[0]!.baselines.teacher!["knnTop1"],
          std: undefined,
          n: 1,
          values: [records[0]!.baselines.teacher!["knnTop1"]]
        })
        expect(table).toContain("4 of 4 cells finished")
        expect(readFileSync(join(out, "results.md"), "utf8")).toBe(table)
        expect(JSON.parse(readFileSync(join(out, "results.json"), "utf8")).finished).toBe(4)
        for (const metric of ["knnTop1", "labels10pctTop1"]) {
          const svg = readFileSync(join(out, `${metric}.svg`), "utf8")
          expect(svg.startsWith("<svg")).toBe(true)
          expect(svg).toContain(`${metricLabel(metric)} (%)`) // the y axis title
          expect(svg).toContain("random-bags (n=2)") // a bar label
        }

        // the dry run now measures its rate on the finished cells
        const rate = rateFor(study, planCells(study), records, "knn")
        const knnCells = records.filter((r) => r.arm === "knn")
        expect(rate.imagesPerSecond).toBeCloseTo(
          knnCells.reduce((a, r) => a + cellWork(planCells(study)[r.index]!, 256), 0) /
            knnCells.reduce((a, r) => a + r.seconds["total"]!, 0),
          6
        )
        expect(rate.source).toBe("measured on 2 finished cell(s) of arm 'knn'")

        // a cell whose cell.json is gone (killed after its checkpoint) runs again from its checkpoint, to the same scores
        rmSync(cellFile("random-bags", 1))
        const resumed = yield* runStudy(study)
        expect(resumed.ran).toEqual([3])
        expect((yield* readCellRecord(cellFile("random-bags", 1))).scores).toEqual(records[3]!.scores)
      }).pipe(Effect.provide(quiet)),
    120_000
  )

  it.effect(
    "an arm whose training diverges is recorded as failed (failed.json), the study goes on, the table says so; --retry-failed runs it again",
    () =>
      Effect.gen(function* () {
        const dir = studyDir(
          [
            "name: failing",
            "config: base.yaml",
            "outDir: out",
            "seeds: [0]",
            "arms:",
            "  - name: ok",
            "  - name: huge-lr",
            "    set: { distill.lr: 1.0e+38 }"
          ].join("\n")
        )
        const study: Study = yield* loadStudy(join(dir, "study.yaml"))
        const failedFile = join(dir, "out", "cells", "huge-lr", "seed-0", "failed.json")
        const run = yield* runStudy(study)
        expect(run.ran).toEqual([0, 1])
        expect(existsSync(join(dir, "out", "cells", "ok", "seed-0", "cell.json"))).toBe(true)
        expect(existsSync(join(dir, "out", "cells", "huge-lr", "seed-0", "cell.json"))).toBe(false)
        const failed = JSON.parse(readFileSync(failedFile, "utf8"))
        expect(failed).toMatchObject({ arm: "huge-lr", seed: 0, index: 1 })
        expect(["TrainingDiverged", "TrainingCollapsed"]).toContain(failed.error._tag)
        expect(run.results.failed.map((c) => [c.index, c.arm])).toEqual([[1, "huge-lr"]])
        expect(run.results.missing).toEqual([])
        expect(run.table).toContain("huge-lr (1 failed)")
        expect(run.table).toMatch(
          /Failed cells \(1; training collapsed or diverged[^\n]*\n- huge-lr seed 0 \(cells\/huge-lr\/seed-0\): Training(Diverged|Collapsed): /
        )
        // a plain re-run skips it; --retry-failed runs it again (and it fails the same way)
        expect((yield* runStudy(study)).ran).toEqual([])
        const retried = yield* runStudy(study, { retryFailed: true })
        expect(retried.ran).toEqual([1])
        expect(retried.results.failed).toHaveLength(1)
      }).pipe(Effect.provide(quiet)),
    120_000
  )

  it("the bingo command: --dry-run, --table and a bad --shard", async () => {
    const dir = studyDir()
    const printed: Array<string> = []
    const errors: Array<string> = []
    const spy = vi.spyOn(console, "log").mockImplementation((line: unknown) => void printed.push(String(line)))
    try {
      expect(await runCli(["study", join(dir, "study.yaml"), "--dry-run"], { log: false })).toBe(0)
      expect(await runCli(["study", join(dir, "study.yaml"), "--table"], { log: false })).toBe(0)
      expect(await runCli(["study", join(dir, "study.yaml"), "--shard", "2/2"], { log: false, stderr: (t) => void errors.push(t) })).toBe(1)
    } finally {
      spy.mockRestore()
    }
    expect(printed[0]).toMatch(/^study smoke: 4 cells \(2 arms x 2 seeds\)/)
    // nothing has run: the table is empty and names all four cells as missing
    expect(printed[1]).toContain("0 of 4 cells finished")
    expect(printed[1]).toContain("Missing cells (4): knn seed 0 (cells/knn/seed-0), random-bags seed 0")
    expect(errors).toEqual(["bingo: --shard 2/2: i must be below n (shards are numbered 0 to 1)\n"])
  })
})
