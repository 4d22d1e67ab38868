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

/**
 * A teacher model file (ONNX, TF.js model.json + weight files) that cannot be read or parsed:
 * missing, unreadable, or not a model. `field` is the config key that named it.
 */
export class TeacherModelUnreadable extends Schema.TaggedError<TeacherModelUnreadable>()("TeacherModelUnreadable", {
  path: Schema.String,
  field: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `teacher model ${this.path} (${this.field}): ${this.reason}`
  }
}

/**
 * A name the config gives that the model does not have: an output (ONNX output, TF.js layer or
 * graph node) or an input; `available` lists those it has.
 */
export class TeacherNameNotFound extends Schema.TaggedError<TeacherNameNotFound>()("TeacherNameNotFound", {
  path: Schema.String,
  field: Schema.String,
  name: Schema.String,
  available: Schema.Array(Schema.String)
}) {
  override get message(): string {
    const shown = this.available.slice(0, 20).join(", ")
    const more = this.available.length > 20 ? `, ... (${this.available.length} in all)` : ""
    return `teacher model ${this.path}: ${this.field} '${this.name}' is not in the model; it has: ${shown}${more}`
  }
}

/**
 * A teacher model whose input or output shapes do not fit the run: an input of another rank,
 * channel count or size than the views the config makes, an output of the wrong rank. `field` is
 * the config key to change; `expected` and `actual` are the shapes when known (-1: any size).
 */
export class TeacherShapeMismatch extends Schema.TaggedError<TeacherShapeMismatch>()("TeacherShapeMismatch", {
  path: Schema.String,
  field: Schema.String,
  reason: Schema.String,
  expected: Schema.optionalKey(Schema.Array(Schema.Number)),
  actual: Schema.optionalKey(Schema.Array(Schema.Number))
}) {
  override get message(): string {
    return `teacher model ${this.path}: ${this.field}: ${this.reason}`
  }
}

/** The runtime a teacher format needs is not installed (`onnxruntime-node`, an optional dependency of @bingo/teacher). */
export class TeacherRuntimeUnavailable extends Schema.TaggedError<TeacherRuntimeUnavailable>()("TeacherRuntimeUnavailable", {
  format: Schema.String,
  runtime: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `teacher.weightsFormat ${this.format} needs ${this.runtime}, which cannot be loaded (${this.reason}); install it with \`ONNXRUNTIME_NODE_INSTALL=skip pnpm install\` (it is an optional dependency of @bingo/teacher)`
  }
}

/** A teacher model that loaded and passed its checks but failed on a batch (an error of its runtime). */
export class TeacherInferenceFailed extends Schema.TaggedError<TeacherInferenceFailed>()("TeacherInferenceFailed", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `teacher model ${this.path}: inference failed: ${this.reason}`
  }
}
