import { Schema } from "effect"

/** Teacher pre-training diverged (the loss became NaN or infinite). */
export class TeacherTrainingDiverged extends Schema.TaggedError<TeacherTrainingDiverged>()("TeacherTrainingDiverged", {
  epoch: Schema.Number,
  step: Schema.Number,
  loss: Schema.Number
}) {
  override get message(): string {
    return `teacher pre-training diverged at epoch ${this.epoch}, step ${this.step} (loss ${this.loss})`
  }
}
