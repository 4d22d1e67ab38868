import { Schema } from "effect"

/** Evaluation needs ground-truth labels on both splits. */
export class MissingLabels extends Schema.TaggedError<MissingLabels>()("MissingLabels", {
  dataset: Schema.String
}) {
  override get message(): string {
    return `dataset '${this.dataset}' has no labels: the kNN classifier and linear probe need them`
  }
}

/** A linear probe's training loss became NaN or infinite (its lr is too high for these features). */
export class LinearProbeDiverged extends Schema.TaggedError<LinearProbeDiverged>()("LinearProbeDiverged", {
  probe: Schema.String,
  epoch: Schema.Number,
  loss: Schema.Number
}) {
  override get message(): string {
    return `${this.probe} diverged at epoch ${this.epoch + 1} (mean training loss ${this.loss}); lower eval.linear.lr`
  }
}
