import { Schema } from "effect"

/**
 * An arm of a study sets a key the study decides for every cell: the seed and the cell's
 * outDir and name (from `seeds` and the plan), the teacher and the dataset (one shared teacher
 * per study), or which baselines a cell evaluates.
 */
export class StudyArmError extends Schema.TaggedError<StudyArmError>()("StudyArmError", {
  /** The study file. */
  path: Schema.String,
  arm: Schema.String,
  /** The key path the arm sets, as written under `set:`. */
  key: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.path}: arm '${this.arm}' sets ${this.key}: ${this.reason}`
  }
}

/**
 * An entry of a study's `comparisons:` names neither an arm nor a per-seed baseline row
 * (`random init`), or compares a row with itself. The teacher rows are one evaluation each, not
 * one per seed, so they cannot be paired by seed.
 */
export class StudyComparisonError extends Schema.TaggedError<StudyComparisonError>()("StudyComparisonError", {
  /** The study file. */
  path: Schema.String,
  /** The entry, as `comparisons[i][j]`. */
  field: Schema.String,
  /** The name as written. */
  name: Schema.String,
  reason: Schema.String,
  /** The names an entry may use: the arms, then the random-init rows. */
  valid: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `${this.path}: ${this.field}: ${this.reason}; valid names: ${this.valid.map((v) => `'${v}'`).join(", ")}`
  }
}

/** `--shard` that is not `i/n` with integers 0 <= i < n, or array-job variables (`arrayTask.ts`) that name no valid task. */
export class InvalidShard extends Schema.TaggedError<InvalidShard>()("InvalidShard", {
  shard: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return this.shard.includes("=") ? `${this.shard}: ${this.reason}` : `--shard ${this.shard}: ${this.reason}`
  }
}

/** A study file (a cell's cell.json, results.md, a chart) could not be read, decoded or written. */
export class StudyFileError extends Schema.TaggedError<StudyFileError>()("StudyFileError", {
  path: Schema.String,
  operation: Schema.Literals(["read", "write"]),
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot ${this.operation} ${this.path}: ${this.reason}`
  }
}

/** `bingo study --rerun <arm>/<seed>` names no cell of the study, a cell that has not finished, or a folder inside the study's. */
export class StudyRerunError extends Schema.TaggedError<StudyRerunError>()("StudyRerunError", {
  /** The cell as given to --rerun. */
  cell: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `--rerun ${this.cell}: ${this.reason}`
  }
}
