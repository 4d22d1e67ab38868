import type { CellRecord } from "../src/study/CellRecord.ts"

/**
 * A tiny base config (shapes 8x8, tiny CNNs, 3 teacher epochs, 1 distillation epoch): a cell
 * takes well under a second on wasm. Chosen to stay well clear of the trainer's collapse check
 * (embedding spread 0.4-0.8 for every seed; tinier MLP students sit near 0.05 and fail it).
 */
export const tinyStudyBase = [
  "name: tiny",
  "seed: 3",
  "backend: wasm",
  "outDir: unused",
  "dataset: { name: shapes, options: { trainSize: 256, testSize: 128, size: 8, seed: 0 } }",
  "augment: { outputSize: 8 }",
  "teacher: { backbone: convnet-small, widthMultiplier: 0.25, headHidden: 64, embeddingDim: 32, pretrain: { epochs: 3, batchSize: 32, lr: 0.02, queueSize: 128 } }",
  "bags: { method: knn, k: 4 }",
  "student: { backbone: convnet-small, widthMultiplier: 0.25, headHidden: 64, embeddingDim: 32 }",
  "distill: { epochs: 1, batchSize: 64, lr: 0.01, queueSize: 128 }",
  "eval: { knn: { k: 10 }, linear: { epochs: 2 }, semiSupervised: [0.1] }"
]

/** A base config for tests of the table step only (no cell is run: the cells' files are written by hand). */
export const tableOnlyBase = [
  "name: tiny",
  "dataset: { name: shapes, options: { trainSize: 64, testSize: 32, size: 8 } }",
  "teacher: { backbone: mlp }",
  "student: { backbone: mlp }"
].join("\n")

/**
 * A finished cell's record for table tests: linear top-1 `linear`, kNN top-1 0.1 below it, and,
 * when given, the random student's scores the same way; every other field a fixed placeholder.
 */
export const cellRecordFixture = (fields: {
  readonly study: string
  readonly arm: string
  readonly seed: number
  readonly index: number
  readonly linear: number
  readonly randomInit?: number
}): CellRecord => ({
  study: fields.study,
  arm: fields.arm,
  seed: fields.seed,
  index: fields.index,
  scores: { knnTop1: fields.linear - 0.1, linearTop1: fields.linear },
  baselines: fields.randomInit === undefined ? {} : { randomInit: { knnTop1: fields.randomInit - 0.1, linearTop1: fields.randomInit } },
  warnings: [],
  distillLosses: [1],
  bagPurity: 0.5,
  dataset: { name: "shapes", train: 64, test: 32 },
  seconds: { total: 1 },
  peakRssMiB: 100,
  backend: "cpu",
  gitCommit: null,
  finishedAt: "2026-01-01T00:00:00.000Z",
  config: {}
})

/** The rows of the first markdown table after the line `heading` (header, then body; the separator left out), cells trimmed. */
export const markdownRowsAfter = (md: string, heading: string): ReadonlyArray<ReadonlyArray<string>> => {
  const lines = md.split("\n")
  const at = lines.indexOf(heading)
  if (at < 0) throw new Error(`no line ${JSON.stringify(heading)}`)
  const start = lines.findIndex((line, i) => i > at && line.startsWith("|"))
  const rows: Array<ReadonlyArray<string>> = []
  for (const line of lines.slice(start)) {
    if (!line.startsWith("|")) break
    if (/^\|-[-|]*\|$/.test(line)) continue
    rows.push(
      line
        .slice(1, -1)
        .split("|")
        .map((c) => c.trim())
    )
  }
  return rows
}
