import { Schema } from "effect"

/** The requested TF.js backend could not be initialised. */
export class BackendUnavailable extends Schema.TaggedError<BackendUnavailable>()("BackendUnavailable", {
  backend: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `TF.js backend '${this.backend}' is unavailable: ${this.reason}`
  }
}
