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
  /** Native cpu threads the cell computed with (cpu-native; absent in cells of older versions): float results depend on it. */
  computeThreads: Schema.optionalKey(Schema.Number),
  /** `git rev-parse HEAD` of the bingo checkout that ran the cell, null when unavailable. */
  gitCommit: Schema.NullOr(Schema.String),
  /** ISO 8601. */
  finishedAt: Schema.String,
  /** The cell's resolved pipeline config (what `bingo check` would print). */
  config: Schema.Unknown
})

export type CellRecord = typeof CellRecord.Type

/** Read and decode a JSON file of the study (`what` names it in the error: "a cell record"). */
const readStudyJson = <S extends Schema.Top>(
  path: string,
  schema: S,
  what: string
): Effect.Effect<S["Type"], StudyFileError, S["DecodingServices"]> =>
  Effect.gen(function* () {
    const text = yield* Effect.tryPromise({
      try: () => readFile(path, "utf8"),
      catch: (e) => new StudyFileError({ path, operation: "read", reason: (e as Error).message })
    })
    const json = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (e) => new StudyFileError({ path, operation: "read", reason: `not JSON: ${(e as Error).message}` })
    })
    return yield* Schema.decodeUnknownEffect(schema)(json, { errors: "all" }).pipe(
      Effect.mapError((e) => new StudyFileError({ path, operation: "read", reason: `not ${what}: ${formatSchemaProblems(e.issue)}` }))
    )
  })

/** Read and decode a cell.json. */
export const readCellRecord = (path: string): Effect.Effect<CellRecord, StudyFileError> => readStudyJson(path, CellRecord, "a cell record")

/** Write a text file atomically (temp file + rename), as a typed error when the file system refuses. */
export const writeStudyFile = (path: string, data: string): Effect.Effect<void, StudyFileError> =>
  Effect.try({
    try: () => atomicWrite(path, data),
    catch: (e) => new StudyFileError({ path, operation: "write", reason: (e as Error).message })
  })

/** Write a cell.json atomically: a cell is done exactly when its file exists. */
export const writeCellRecord = (path: string, record: CellRecord): Effect.Effect<void, StudyFileError> =>
  writeStudyFile(path, `${JSON.stringify(record, null, 2)}\n`)

/**
 * A cell whose training failed the way a method can fail: collapsed (TrainingCollapsed),
 * diverged (TrainingDiverged) or a probe that diverged (LinearProbeDiverged). It is an outcome
 * of the arm, recorded in `<cell>/failed.json` so the study goes on with the other cells and the
 * table says so; `bingo study --retry-failed` runs such cells again.
 */
export const FailedCell = Schema.Struct({
  study: Schema.String,
  arm: Schema.String,
  seed: Schema.Number,
  index: Schema.Number,
  error: Schema.Struct({ _tag: Schema.String, message: Schema.String }),
  commit: Schema.NullOr(Schema.String),
  failedAt: Schema.String
})
export type FailedCell = typeof FailedCell.Type

/** Read and decode a failed.json. */
export const readFailedCell = (path: string): Effect.Effect<FailedCell, StudyFileError> => readStudyJson(path, FailedCell, "a failed cell")
