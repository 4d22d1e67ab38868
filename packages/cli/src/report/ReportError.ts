import { Schema } from "effect"

/** `bingo report` cannot read a run folder: missing, or holding neither metrics.jsonl nor results.json. */
export class RunFolderError extends Schema.TaggedError<RunFolderError>()("RunFolderError", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `run folder ${this.path}: ${this.reason}`
  }
}
