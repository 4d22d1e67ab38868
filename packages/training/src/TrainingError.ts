import { Schema } from "effect"

const checkpointText = (lastCheckpoint: string | undefined) =>
  lastCheckpoint === undefined ? "no checkpoint written yet" : `last good checkpoint: ${lastCheckpoint}`

/**
 * The loss or the gradient norm became NaN or infinite: the run stops before the update is
 * applied, and the last checkpoint (written before this step) is intact.
 */
export class TrainingDiverged extends Schema.TaggedError<TrainingDiverged>()("TrainingDiverged", {
  stage: Schema.String,
  epoch: Schema.Number,
  step: Schema.Number,
  loss: Schema.Number,
  gradNorm: Schema.Number,
  lr: Schema.Number,
  lastCheckpoint: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return (
      `${this.stage} diverged at epoch ${this.epoch + 1}, step ${this.step + 1}: loss ${this.loss}, ` +
      `gradient norm ${this.gradNorm} at lr ${this.lr.toPrecision(3)}; ${checkpointText(this.lastCheckpoint)}. ` +
      `Try a lower lr (e.g. ${(this.lr / 3).toPrecision(2)} at this batch size) or a longer lr warm-up (lrWarmupEpochs)`
    )
  }
}

/**
 * The network's L2-normalised embeddings stopped varying across images (or the loss sits at the
 * value it takes when every logit is equal): the model has collapsed to a constant and further
 * training cannot recover it. `evidence` gives the numbers that decided it.
 */
export class TrainingCollapsed extends Schema.TaggedError<TrainingCollapsed>()("TrainingCollapsed", {
  stage: Schema.String,
  epoch: Schema.Number,
  step: Schema.Number,
  /** Which embedding collapsed: the trained network's ("student", "teacher (query)") or the frozen teacher's. */
  network: Schema.String,
  evidence: Schema.String,
  advice: Schema.String,
  lastCheckpoint: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return (
      `${this.stage} collapsed at epoch ${this.epoch + 1}, step ${this.step + 1}: the ${this.network} embeddings ${this.evidence}; ` +
      `${checkpointText(this.lastCheckpoint)}. ${this.advice}`
    )
  }
}

export class CheckpointError extends Schema.TaggedError<CheckpointError>()("CheckpointError", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `checkpoint ${this.path}: ${this.reason}`
  }
}
