import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { failureOf, Rng, Runtime } from "@bingo/runtime"
import { createEncoder, disposeEncoder, type EncoderSpec, parameterCount, saveWeights } from "@bingo/backbones"
import { evaluateEncoder } from "@bingo/eval"
import { bagPurity, makeBags, writeBagsNpy } from "@bingo/bag-miner"
import { DatasetSource, makeShapes } from "@bingo/data"
import type { EpochLine, StepLine } from "@bingo/training"
import { decodeConfig } from "../src/loadConfig.ts"
import { makeReport } from "../src/report/makeReport.ts"
import { readRunConfig, runConfigOf, writeRunConfig } from "../src/runConfigFile.ts"
import { confusionMatrix, mapSubsample, umap2d } from "../src/report/embeddingMaps.ts"
import { augmentOf, encoderSpec, resolveDatasetPaths } from "../src/runPipeline.ts"
import type { PipelineResult } from "../src/runPipeline.ts"
import { runCli } from "../src/runCli.ts"

const raw = {
  name: "fixture",
  outDir: "../runs/x",
  plugins: ["plugins/loss.mjs"],
  dataset: { name: "folder", options: { dir: "data/train", testDir: "/data/test", cache: "cache", size: 8 } },
  teacher: { backbone: "mlp", weights: "weights/teacher.safetensors" },
  bags: { file: "bags/b.npy" },
  student: { backbone: "mlp" }
}

describe("config.json", () => {
  it.effect("holds the decoded config with its paths relative to the outDir (outDir '.'), and decodes to itself", () =>
    Effect.gen(function* () {
      const config = yield* decodeConfig(raw, "fixture.yaml")
      const run = runConfigOf(config, "/work/configs")
      // outDir /work/runs/x
      expect(run.outDir).toBe(".")
      expect(run.plugins).toEqual(["../../configs/plugins/loss.mjs"])
      expect(run.dataset.options).toEqual({ dir: "../../configs/data/train", testDir: "/data/test", cache: "../../configs/cache", size: 8 })
      expect(run.teacher.weights).toBe("../../configs/weights/teacher.safetensors")
      expect(run.bags.file).toBe("../../configs/bags/b.npy")
      expect({
        ...run,
        outDir: config.outDir,
        plugins: config.plugins,
        dataset: config.dataset,
        teacher: config.teacher,
        bags: config.bags
      }).toEqual(config)
      expect(yield* decodeConfig(JSON.parse(JSON.stringify(run)), "config.json")).toEqual(run)
    })
  )
})

const step = (stage: string, globalStep: number, loss: number, terms: Record<string, number>): StepLine => ({
  type: "step",
  stage,
  epoch: Math.floor((globalStep - 1) / 4),
  step: (globalStep - 1) % 4,
  globalStep,
  images: 32 * globalStep,
  loss,
  terms,
  lr: 0.01 * globalStep,
  gradNorm: 1,
  embeddings: { student: { spread: 0.5 + 0.01 * globalStep, embeddingStd: 0.1, dead: 0 } },
  queueFill: { keys: 1 },
  imagesPerSecond: 1000,
  time: "2026-01-01T00:00:00.000Z"
})

const epoch = (stage: string, e: number, loss: number, collapseValue: number | null): EpochLine => ({
  type: "epoch",
  stage,
  epoch: e,
  loss,
  terms: {},
  lr: 0.04,
  gradNorm: 1,
  embeddings: { student: { spread: 0.6, embeddingStd: 0.1, dead: 0 } },
  collapseValue,
  imagesPerSecond: 1000,
  seconds: 1,
  time: "2026-01-01T00:00:00.000Z"
})

const result: PipelineResult = {
  name: "fixture",
  backend: "cpu",
  dataset: { name: "shapes", train: 256, test: 128 },
  bagPurity: 0.5,
  distillLosses: [5],
  distillEpochs: [],
  teacherPretraining: [],
  rows: [
    { model: "student (bingo)", backbone: "mlp", params: 1234, scores: { knnTop1: 0.5, knnTop5: 0.9, linearTop1: 0.61, linearTop5: 0.95 } },
    { model: "teacher", backbone: "convnet", params: 99999, scores: { knnTop1: 0.7, knnTop5: 0.95, linearTop1: 0.8, linearTop5: 0.99 } }
  ],
  chance: 0.1,
  warnings: ["the teacher <b>is</b> weak"],
  seconds: { teacher: 1, bags: 2, distill: 3, eval: 4, total: 10 },
  peakRssMiB: 321
}

/** A run folder with config.json, metrics.jsonl (pre-training: loss only; distillation: two terms and lambda) and results.json. */
const fixtureRun = (
  options: { readonly results?: boolean; readonly steps?: boolean; readonly dataset?: unknown; readonly bags?: boolean } = {}
) =>
  Effect.gen(function* () {
    const root = mkdtempSync(join(tmpdir(), "bingo-report-"))
    const config = yield* decodeConfig(
      {
        ...raw,
        outDir: "run",
        plugins: [],
        dataset: options.dataset ?? { name: "shapes", options: { trainSize: 64, testSize: 32, size: 16, seed: 0 } },
        backend: "cpu",
        teacher: { backbone: "mlp", widthMultiplier: 0.25, headHidden: 32, embeddingDim: 16 },
        eval: { knn: { k: 10 }, linear: { epochs: 5 } },
        bags: {}
      },
      "x"
    )
    writeRunConfig(config, root)
    const dir = join(root, "run")
    const metrics = join(dir, "metrics.jsonl")
    for (const [stage, terms] of [
      ["teacher pre-training", {}],
      ["distillation", { aa: 4, ap: 4.5, lambda: 0.7 }]
    ] as const) {
      for (let g = 1; g <= 8; g++) {
        if (options.steps !== false) appendFileSync(metrics, `${JSON.stringify(step(stage, g, 6 - 0.2 * g, terms))}\n`)
        if (g % 4 === 0) appendFileSync(metrics, `${JSON.stringify(epoch(stage, g / 4 - 1, 6 - 0.2 * g, 6.24))}\n`)
      }
    }
    if (options.results !== false) writeFileSync(join(dir, "results.json"), JSON.stringify(result))
    // bags of 3: anchor i's neighbours are i + 1, i + 2, i + 3 (mod 64)
    if (options.bags !== false)
      yield* writeBagsNpy(
        join(dir, "bags.npy"),
        makeBags(
          64,
          3,
          Int32Array.from({ length: 192 }, (_, j) => (Math.floor(j / 3) + 1 + (j % 3)) % 64)
        )
      )
    return dir
  })

/** The `data-chart` names of the page, each with the number of drawn marks (paths) inside its SVG. */
const charts = (html: string): Record<string, number> =>
  Object.fromEntries(
    [...html.matchAll(/<figure class="chart" data-chart="([^"]+)">(.*?)<\/figure>/gs)].map((m) => [
      m[1]!,
      (m[2]!.match(/<path /g) ?? []).length
    ])
  )

describe("bingo report", () => {
  it.effect(
    "writes report.html: loss curves per stage, loss weights, lr and spread as inline SVG; the results table; the config; nothing external",
    () =>
      Effect.gen(function* () {
        const dir = yield* fixtureRun()
        const path = yield* makeReport(dir)
        expect(path).toBe(join(dir, "report.html"))
        const html = readFileSync(path, "utf8")
        const drawn = charts(html)
        expect(Object.keys(drawn)).toEqual([
          "loss-teacher-pre-training",
          "loss-distillation",
          "weights-distillation",
          "lr",
          "spread",
          "purity-per-class"
        ])
        for (const [name, paths] of Object.entries(drawn)) expect(paths, name).toBeGreaterThan(0)
        // the collapse value is drawn as a labelled rule; lambda is a weight, not a loss line
        expect(html).toContain("collapse ln(Q + 1) = 6.240")
        const distillation = /data-chart="loss-distillation">(.*?)<\/figure>/s.exec(html)![1]!
        for (const series of ["total", "aa", "ap"]) expect(distillation).toContain(`>${series}</text>`)
        expect(distillation).not.toContain(">lambda</text>")
        // results: every row, percentages, chance, bag purity, the warning escaped
        expect(html).toMatch(
          /<td>student \(bingo\)<\/td><td>mlp<\/td><td class="num">1,234<\/td><td class="num">50\.0<\/td><td class="num">90\.0<\/td><td class="num">61\.0<\/td>/
        )
        expect(html).toContain("chance 10.0%")
        expect(html).toContain("<strong>50.0%</strong>")
        expect(html).toContain("warning: the teacher &lt;b&gt;is&lt;/b&gt; weak")
        // run facts and the config
        expect(html).toContain("<tr><th>peak RSS</th><td>321 MiB</td></tr>")
        expect(html).toContain("<tr><th>backend</th><td>cpu</td></tr>")
        expect(html).toContain("name: fixture\nseed: 0\nbackend: cpu\noutDir: .\n")
        // self-contained: no script, stylesheet link, frame or remote image
        expect(html).not.toMatch(/<script|<link|<iframe|src="https?:|href="https?:/)
        // SVG ids are made unique per chart, so one chart's clip paths never clip another
        const ids = [...html.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1])
        expect(new Set(ids).size).toBe(ids.length)
      })
  )

  it.effect("a run still going (no results.json) gets its curves and a note; without step lines, the epoch lines are drawn", () =>
    Effect.gen(function* () {
      const dir = yield* fixtureRun({ results: false, steps: false })
      const html = readFileSync(yield* makeReport(dir), "utf8")
      expect(html).toContain("No results.json: the run has not finished")
      expect(html).toContain("0 step lines and 4 epoch lines")
      for (const [name, paths] of Object.entries(charts(html))) expect(paths, name).toBeGreaterThan(0)
    })
  )

  it.effect(
    "the bag gallery: 24 seeded anchors with their K members as PNG thumbnails marked same / other class; purity overall and per class",
    () =>
      Effect.gen(function* () {
        const dir = yield* fixtureRun()
        const html = readFileSync(yield* makeReport(dir), "utf8")
        const bags = /<section id="bags">(.*?)<\/section>/s.exec(html)![1]!
        const rows = [...bags.matchAll(/<div class="bag">(.*?)<\/div>/gs)].map((m) => m[1]!)
        expect(rows).toHaveLength(24)
        const shapes = makeShapes({ n: 64, size: 16, channels: 1, seed: 0 })
        const labels = shapes.labels!
        for (const row of rows) {
          const figures = [
            ...row.matchAll(
              /<figure class="thumb (anchor|member)( same| other)?" title="image (\d+)[^"]*"><img src="data:image\/png;base64,[A-Za-z0-9+/=]+"/g
            )
          ]
          expect(figures).toHaveLength(4)
          const anchor = Number(figures[0]![3])
          expect(figures[0]![1]).toBe("anchor")
          // the members are the anchor's bag, each marked by whether its label is the anchor's
          expect(figures.slice(1).map((f) => Number(f[3]))).toEqual([1, 2, 3].map((d) => (anchor + d) % 64))
          for (const f of figures.slice(1)) expect(f[2]).toBe(labels[Number(f[3])] === labels[anchor] ? " same" : " other")
        }
        // the same anchors every time (seeded by the run's seed), all different
        const anchors = rows.map((r) => Number(/title="image (\d+)/.exec(r)![1]))
        expect(new Set(anchors).size).toBe(24)
        expect(readFileSync(yield* makeReport(dir), "utf8")).toBe(html)
        const purity = bagPurity(
          makeBags(
            64,
            3,
            Int32Array.from({ length: 192 }, (_, j) => (Math.floor(j / 3) + 1 + (j % 3)) % 64)
          ),
          labels
        )
        expect(bags).toContain(`Bag purity: <strong>${(100 * purity.overall).toFixed(1)}%</strong>`)
        for (const c of purity.perClass)
          expect(bags).toContain(
            `<td>${shapes.classNames![c.label]}</td><td class="num">${c.anchors}</td><td class="num">${(100 * c.purity).toFixed(1)}</td>`
          )
        expect(charts(html)["purity-per-class"]).toBeGreaterThan(0)
      })
  )

  it.effect("data that cannot be loaded leave a note where the gallery would be; the rest of the report is written", () =>
    Effect.gen(function* () {
      const dir = yield* fixtureRun({ dataset: { name: "idx", options: { dir: "nowhere" } } })
      const html = readFileSync(yield* makeReport(dir), "utf8")
      expect(html).toMatch(
        /<section id="bags"><h2>Bags<\/h2>\n<p class="note">The run&#39;s data could not be loaded: dataset not found: \S+nowhere/
      )
      expect(Object.keys(charts(html))).toContain("loss-distillation")
    })
  )

  it.effect("a folder that is not a run is a RunFolderError naming it", () =>
    Effect.gen(function* () {
      const empty = mkdtempSync(join(tmpdir(), "bingo-report-empty-"))
      expect(failureOf(yield* Effect.exit(makeReport(empty)))).toMatchObject({ _tag: "RunFolderError", path: empty })
      expect(failureOf(yield* Effect.exit(makeReport(join(empty, "nowhere"))))).toMatchObject({
        _tag: "RunFolderError",
        reason: "no such folder"
      })
      mkdirSync(join(empty, "sub"))
      expect(existsSync(join(empty, "report.html"))).toBe(false)
    })
  )

  it("through the command: prints the path; a bad folder is one line and exit 1; no folder is a usage error", async () => {
    const dir = await Effect.runPromise(fixtureRun())
    let stderr = ""
    expect(await runCli(["report", dir], { log: false })).toBe(0)
    const empty = mkdtempSync(join(tmpdir(), "bingo-report-empty-"))
    expect(await runCli(["report", empty], { log: false, stderr: (t) => (stderr += t) })).toBe(1)
    expect(stderr).toBe(
      `bingo: run folder ${empty}: neither results.json nor metrics.jsonl is there: not the outDir of a \`bingo run\` (or it has not trained a step yet)\n`
    )
    expect(await runCli(["report"], { log: false })).toBe(2)
  })
})

describe("embedding maps and confusion matrices", () => {
  it("confusionMatrix counts (true, predicted) pairs; mapSubsample keeps every row up to the cap, else a seeded sorted subset", () => {
    expect(confusionMatrix(Int32Array.from([0, 0, 1, 2, 2, 2]), Int32Array.from([0, 1, 1, 2, 0, 2]), 3)).toEqual([
      [1, 1, 0],
      [0, 1, 0],
      [1, 0, 2]
    ])
    expect([...mapSubsample(4, 5, 0)]).toEqual([0, 1, 2, 3])
    const sub = mapSubsample(100, 10, 3)
    expect(sub).toHaveLength(10)
    expect([...sub]).toEqual([...sub].sort((a, b) => a - b))
    expect(new Set(sub).size).toBe(10)
    expect([...mapSubsample(100, 10, 3)]).toEqual([...sub])
    expect([...mapSubsample(100, 10, 4)]).not.toEqual([...sub])
  })

  it.effect("umap2d is seeded: the same features and seed give the same 2-D map", () =>
    Effect.gen(function* () {
      const rng = Rng.fromSeed(1)
      const features = Float32Array.from({ length: 40 * 6 }, () => rng.normal())
      const rows = mapSubsample(40, 40, 0)
      const a = yield* umap2d(features, 6, rows, 7)
      expect(a).toHaveLength(40)
      expect(a.every(([x, y]) => Number.isFinite(x) && Number.isFinite(y))).toBe(true)
      expect(yield* umap2d(features, 6, rows, 7)).toEqual(a)
    })
  )

  it.effect(
    "a map per network of the test features (student, random student, teacher) coloured by class; a confusion matrix per network whose top-1 is results.json's",
    () =>
      Effect.gen(function* () {
        const dir = yield* fixtureRun()
        const config = yield* readRunConfig(dir)
        // a student and a teacher as a run leaves them, and results.json scored as runPipeline scores them
        const { train, test } = yield* Effect.gen(function* () {
          return yield* (yield* DatasetSource).load
        }).pipe(Effect.provide(DatasetSource.layer({ name: "shapes", options: resolveDatasetPaths(config.dataset.options, dir) })))
        const studentSpec: EncoderSpec = {
          backbone: "mlp",
          inputShape: [16, 16, 1],
          widthMultiplier: 0.125,
          headHidden: 16,
          embeddingDim: 8
        }
        const teacherSpec = encoderSpec({ ...config.teacher, backbone: config.teacher.backbone! }, [16, 16, 1])
        const networks = [
          ["student (bingo)", createEncoder(studentSpec, Rng.fromSeed(11), "s")],
          ["student (random init)", createEncoder(studentSpec, Rng.fromSeed(config.seed), "random-student")],
          ["teacher", createEncoder(teacherSpec, Rng.fromSeed(12), "t")],
          ["teacher (random init)", createEncoder(teacherSpec, Rng.fromSeed(config.seed), "random-teacher")]
        ] as const
        yield* saveWeights(join(dir, "student.safetensors"), networks[0][1].params, { spec: JSON.stringify(studentSpec) })
        yield* saveWeights(join(dir, "teacher.safetensors"), networks[2][1].params, { spec: JSON.stringify(teacherSpec) })
        const rows = []
        for (const [model, encoder] of networks) {
          const scores = yield* evaluateEncoder(encoder, train, test!, {
            view: augmentOf(config, train),
            knn: config.eval.knn,
            linear: config.eval.linear,
            seed: config.seed
          })
          rows.push({ model, backbone: "mlp", params: parameterCount(encoder.backbone), scores })
          disposeEncoder(encoder)
        }
        writeFileSync(join(dir, "results.json"), JSON.stringify({ ...result, rows }))

        const html = readFileSync(yield* makeReport(dir), "utf8")
        const drawn = charts(html)
        // one circle per test image in each map, one cell per (true, predicted) class pair in each matrix
        for (const name of ["map-student-bingo", "map-student-random-init", "map-teacher"])
          expect(drawn[name], name).toBeGreaterThanOrEqual(32)
        expect(drawn["map-teacher-random-init"]).toBeUndefined()
        for (const name of [
          "confusion-student-bingo",
          "confusion-student-random-init",
          "confusion-teacher",
          "confusion-teacher-random-init"
        ])
          expect(drawn[name], name).toBeGreaterThanOrEqual(100)
        const embeddings = /<section id="embeddings">(.*?)<\/section>/s.exec(html)![1]!
        const agreement = [
          ...embeddings.matchAll(/<tr><td>([^<]+)<\/td><td class="num">([\d.]+)<\/td><td class="num">([\d.]+)<\/td><\/tr>/g)
        ].map((m) => [m[1], m[2], m[3]])
        expect(agreement).toEqual(
          rows.map((r) => [r.model, (100 * r.scores.linearTop1).toFixed(1), (100 * r.scores.linearTop1).toFixed(1)])
        )
        // the figure of one map: its legend names the classes in label order
        const map = /data-chart="map-teacher">(.*?)<\/figure>/s.exec(html)![1]!
        const legend = [...map.matchAll(/<text[^>]*>([a-z-]+)<\/text>/g)].map((m) => m[1]).filter((t) => train.classNames!.includes(t!))
        expect(legend).toEqual(train.classNames)
      }).pipe(Effect.provide(Runtime.layerTest)),
    120_000
  )
})
