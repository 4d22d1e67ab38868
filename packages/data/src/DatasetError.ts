import { Schema } from "effect"

/** A dataset file or directory does not exist (or cannot be read). */
export class DatasetNotFound extends Schema.TaggedError<DatasetNotFound>()("DatasetNotFound", {
  path: Schema.String,
  reason: Schema.optionalKey(Schema.String)
}) {
  override get message(): string {
    return `dataset not found: ${this.path}${this.reason === undefined ? "" : ` (${this.reason})`}`
  }
}

/** A dataset file exists but its bytes are not what the format says (bad magic, truncated, ...). */
export class DatasetFormatError extends Schema.TaggedError<DatasetFormatError>()("DatasetFormatError", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `malformed dataset file ${this.path}: ${this.reason}`
  }
}

/**
 * A dataset (or one of its splits) holds no image. (Fields naming a dataset are called `dataset`,
 * not `name`, which would shadow `Error.name` and garble printed errors.)
 */
export class EmptyDataset extends Schema.TaggedError<EmptyDataset>()("EmptyDataset", {
  dataset: Schema.String,
  /** The directory or file found empty, when there is one. */
  path: Schema.optionalKey(Schema.String),
  reason: Schema.optionalKey(Schema.String)
}) {
  override get message(): string {
    const where = this.path === undefined ? "" : `: ${this.path}`
    const why = this.reason === undefined ? "" : ` (${this.reason})`
    return `dataset '${this.dataset}' is empty${where}${why}`
  }
}

/** An image file that cannot be read or decoded (unreadable, truncated, not an image). */
export class CorruptImage extends Schema.TaggedError<CorruptImage>()("CorruptImage", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `corrupt or unreadable image ${this.path}: ${this.reason}`
  }
}

/** Images (or labels) do not have the shape the rest of the dataset has. */
export class ImageShapeMismatch extends Schema.TaggedError<ImageShapeMismatch>()("ImageShapeMismatch", {
  path: Schema.optionalKey(Schema.String),
  expected: Schema.Array(Schema.Number),
  actual: Schema.Array(Schema.Number)
}) {
  override get message(): string {
    const where = this.path === undefined ? "" : ` in ${this.path}`
    return `shape mismatch${where}: expected [${this.expected.join(", ")}], got [${this.actual.join(", ")}]`
  }
}

/** The config names a dataset the registry does not have. */
export class UnknownDataset extends Schema.TaggedError<UnknownDataset>()("UnknownDataset", {
  dataset: Schema.String,
  available: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `unknown dataset '${this.dataset}'; available: ${this.available.join(", ")}`
  }
}

/** A dataset's options (from the config) are invalid. */
export class InvalidDatasetConfig extends Schema.TaggedError<InvalidDatasetConfig>()("InvalidDatasetConfig", {
  dataset: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid options for dataset '${this.dataset}': ${this.reason}`
  }
}

/** An augmentation config is invalid (a probability outside [0, 1], an empty range, ...). */
export class InvalidAugmentConfig extends Schema.TaggedError<InvalidAugmentConfig>()("InvalidAugmentConfig", {
  field: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid augmentation config: ${this.field}: ${this.reason}`
  }
}

/** A decoded-image cache could not be written (no such directory, not writable, disk full). */
export class CacheWriteError extends Schema.TaggedError<CacheWriteError>()("CacheWriteError", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot write the image cache ${this.path}: ${this.reason}`
  }
}

/** Every error loading a dataset can fail with. */
export type DatasetError =
  | DatasetNotFound
  | DatasetFormatError
  | EmptyDataset
  | CorruptImage
  | ImageShapeMismatch
  | UnknownDataset
  | InvalidDatasetConfig
  | CacheWriteError
