import { Schema } from "effect"

/** Evaluation needs ground-truth labels on both splits. */
export class MissingLabels extends Schema.TaggedError<MissingLabels>()("MissingLabels", {
  dataset: Schema.String
}) {
  override get message(): string {
    return `dataset '${this.dataset}' has no labels: the kNN classifier and linear probe need them`
  }
}
