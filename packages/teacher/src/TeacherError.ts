import { Schema } from "effect"

/**
 * A teacher pre-training run with fewer training images than one batch: partial batches are
 * dropped, so it would train no step and return a random teacher.
 */
export class TeacherDatasetTooSmall extends Schema.TaggedError<TeacherDatasetTooSmall>()("TeacherDatasetTooSmall", {
  datasetN: Schema.Number,
  batchSize: Schema.Number
}) {
  override get message(): string {
    return `teacher pre-training: the dataset has ${this.datasetN} samples, fewer than one batch of ${this.batchSize} (partial batches are dropped, so no step would run); lower the pre-training batch size`
  }
}

/**
 * Teacher weights that do not belong to the teacher this run builds: a tensor of another shape
 * (another architecture, input channels or, for MLPs, input size), or, for weights this pipeline
 * pre-trained and saved earlier, other pre-training settings. `reason` says which and how to fix it.
 */
export class TeacherWeightsMismatch extends Schema.TaggedError<TeacherWeightsMismatch>()("TeacherWeightsMismatch", {
  path: Schema.String,
  reason: Schema.String,
  tensor: Schema.optionalKey(Schema.String),
  expected: Schema.optionalKey(Schema.Array(Schema.Number)),
  actual: Schema.optionalKey(Schema.Array(Schema.Number))
}) {
  override get message(): string {
    return `teacher weights ${this.path}: ${this.reason}`
  }
}
