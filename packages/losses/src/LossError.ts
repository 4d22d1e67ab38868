import { Schema } from "effect"

/** A config asked for a loss that no registered loss (builtin or plugin) is called. */
export class UnknownLoss extends Schema.TaggedError<UnknownLoss>()("UnknownLoss", {
  name: Schema.String,
  available: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `unknown loss '${this.name}'; available: ${this.available.join(", ")}`
  }
}

/**
 * A loss's options (from the YAML config) did not decode: an unknown key, a wrong type or a value
 * out of range. `message` names the loss and the offending key path, e.g.
 * `invalid options for loss 'bingo': Expected number\n  at ["temperature"]`.
 */
export class InvalidLossOptions extends Schema.TaggedError<InvalidLossOptions>()("InvalidLossOptions", {
  loss: Schema.String,
  message: Schema.String
}) {}

/** Two losses (e.g. a plugin and a builtin) were registered under the same name. */
export class DuplicateLoss extends Schema.TaggedError<DuplicateLoss>()("DuplicateLoss", {
  name: Schema.String
}) {
  override get message(): string {
    return `a loss named '${this.name}' is already registered`
  }
}
