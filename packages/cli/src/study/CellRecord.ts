import { Effect, Schema } from "effect"
import { readFile } from "node:fs/promises"
import { atomicWrite, formatSchemaProblems } from "@bingo/runtime"
import { StudyFileError } from "./StudyError.ts"

/** Accuracies by metric name (knnTop1, linearTop5, labels1pctTop1, ...), as fractions. */
const Scores = Schema.Record(Schema.String, Schema.Number)

/**
 * What a finished cell leaves in `<outDir>/cells/<arm>/seed-<seed>/cell.json`: its scores and
 * everything needed to trust or redo them. The table is computed from these files only.
 */
export const CellRecord = Schema.Struct({
  study: Schema.String,
  arm: Schema.String,
  seed: Schema.Number,
  /** The cell's index in the plan. */
  index: Schema.Number,
  /** The distilled student's scores; null when evaluation was skipped (unlabelled data, see `evaluationSkipped`). */
  scores: Schema.NullOr(Scores),
  /** Baselines this cell evaluated: the random student (same architecture, this cell's seed), the teacher and a random teacher (its architecture untrained). */
  baselines: Schema.Struct({
    randomInit: Schema.optionalKey(Scores),
    teacher: Schema.optionalKey(Scores),
    randomTeacher: Schema.optionalKey(Scores)
  }),
  /** The pipeline's warnings (e.g. a teacher no better than a random network). */
  warnings: Schema.Array(Schema.String),
  evaluationSkipped: Schema.optionalKey(Schema.String),
  /** Mean distillation loss of each epoch. */
  distillLosses: Schema.Array(Schema.Number),
  /** Fraction of bag neighbours sharing their anchor's label; null without labels. */
  bagPurity: Schema.NullOr(Schema.Number),
  dataset: Schema.Struct({ name: Schema.String, train: Schema.Number, test: Schema.Number }),
  /** Wall-clock seconds per pipeline stage and `total` (the shared teacher and bags are made before a cell starts). */
  seconds: Schema.Record(Schema.String, Schema.Number),
  /** Peak RSS of the process that ran the cell, so far (cells run one after another in one process share it), MiB. */
  peakRssMiB: Schema.Number,
  backend: Schema.String,
  /** `git rev-parse HEAD` of the bingo checkout that ran the cell, null when unavailable. */
  gitCommit: Schema.NullOr(Schema.String),
  /** ISO 8601. */
  finishedAt: Schema.String,
  /** The cell's resolved pipeline config (what `bingo check` would print). */
  config: Schema.Unknown
})

export type CellRecord = typeof CellRecord.Type

/** Read and decode a cell.json. */
export const readCellRecord = (path: string): Effect.Effect<CellRecord, StudyFileError> =>
  Effect.gen(function* () {
    const text = yield* Effect.tryPromise({
      try: () => readFile(path, "utf8"),
      catch: (e) => new StudyFileError({ path, operation: "read", reason: (e as Error).message })
    })
    const json = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (e) => new StudyFileError({ path, operation: "read", reason: `not JSON: ${(e as Error).message}` })
    })
    return yield* Schema.decodeUnknownEffect(CellRecord)(json, { errors: "all" }).pipe(
      Effect.mapError((e) => new StudyFileError({ path, operation: "read", reason: `not a cell record: ${formatSchemaProblems(e.issue)}` }))
    )
  })

/** Write a text file atomically (temp file + rename), as a typed error when the file system refuses. */
export const writeStudyFile = (path: string, data: string): Effect.Effect<void, StudyFileError> =>
  Effect.try({
    try: () => atomicWrite(path, data),
    catch: (e) => new StudyFileError({ path, operation: "write", reason: (e as Error).message })
  })

/** Write a cell.json atomically: a cell is done exactly when its file exists. */
export const writeCellRecord = (path: string, record: CellRecord): Effect.Effect<void, StudyFileError> =>
  writeStudyFile(path, `${JSON.stringify(record, null, 2)}\n`)
