import { Schema } from "effect"

export class UnknownBackbone extends Schema.TaggedError<UnknownBackbone>()("UnknownBackbone", {
  name: Schema.String,
  available: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `unknown backbone '${this.name}'; available: ${this.available.join(", ")}`
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
