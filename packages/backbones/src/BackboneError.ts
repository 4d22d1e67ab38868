import { Schema } from "effect"

export class UnknownBackbone extends Schema.TaggedError<UnknownBackbone>()("UnknownBackbone", {
  /** The name asked for (not `name`, which would shadow the error's own name). */
  backbone: Schema.String,
  available: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `unknown backbone '${this.backbone}'; available: ${this.available.join(", ")}`
  }
}

/** A weight file whose tensors do not fit the network. */
export class WeightShapeMismatch extends Schema.TaggedError<WeightShapeMismatch>()("WeightShapeMismatch", {
  path: Schema.String,
  tensor: Schema.String,
  expected: Schema.Array(Schema.Number),
  actual: Schema.Array(Schema.Number)
}) {
  override get message(): string {
    return `${this.path}: tensor '${this.tensor}' has shape [${this.actual.join(", ")}], expected [${this.expected.join(", ")}]`
  }
}

export class WeightFileError extends Schema.TaggedError<WeightFileError>()("WeightFileError", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.path}: ${this.reason}`
  }
}

/** A PyTorch checkpoint lacks tensors the network needs (after stripping `prefix`). */
export class MissingWeights extends Schema.TaggedError<MissingWeights>()("MissingWeights", {
  path: Schema.String,
  /** The prefix that was stripped from the checkpoint's names ("" for none). */
  prefix: Schema.String,
  /** Every missing tensor, as the checkpoint would name it. */
  missing: Schema.Array(Schema.String)
}) {
  override get message(): string {
    const shown = this.missing
      .slice(0, 8)
      .map((n) => `'${n}'`)
      .join(", ")
    const more = this.missing.length > 8 ? ` and ${this.missing.length - 8} more` : ""
    return `${this.path}: ${this.missing.length} tensor(s) missing (prefix '${this.prefix}'): ${shown}${more}`
  }
}

/** A network that cannot be exported as a TF.js LayersModel, or export files that cannot be written. */
export class ModelExportError extends Schema.TaggedError<ModelExportError>()("ModelExportError", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.path}: ${this.reason}`
  }
}
