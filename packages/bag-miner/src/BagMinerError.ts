import { Schema } from "effect"

const where = (path: string | undefined): string => (path === undefined ? "bags" : path)

/** A .npy file whose bytes are not a well-formed NumPy array we can read (bad magic,
 * truncated data, unparsable header, fortran_order True, wrong rank). */
export class NpyFormatError extends Schema.TaggedError<NpyFormatError>()("NpyFormatError", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.path}: not a readable .npy array: ${this.reason}`
  }
}

/** A well-formed .npy file holding a dtype bag-miner does not read ('<f8', '>i8', '|u1', ...). */
export class NpyUnsupportedDtype extends Schema.TaggedError<NpyUnsupportedDtype>()("NpyUnsupportedDtype", {
  path: Schema.String,
  dtype: Schema.String,
  supported: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `${this.path}: unsupported .npy dtype '${this.dtype}' (supported: ${this.supported.join(", ")})`
  }
}

/** The file system refused a read or a write (missing file, permissions, full disk). */
export class BagFileError extends Schema.TaggedError<BagFileError>()("BagFileError", {
  path: Schema.String,
  operation: Schema.Literals(["read", "write"]),
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot ${this.operation} ${this.path}: ${this.reason}`
  }
}

/** The bag matrix has a different number of rows than the dataset has samples. */
export class BagShapeMismatch extends Schema.TaggedError<BagShapeMismatch>()("BagShapeMismatch", {
  path: Schema.optionalKey(Schema.String),
  expectedN: Schema.Number,
  actualN: Schema.Number
}) {
  override get message(): string {
    return `${where(this.path)}: bag matrix has ${this.actualN} rows but the dataset has ${this.expectedN} samples`
  }
}

/** A neighbour index that does not name a sample of the dataset (negative, >= N, or beyond int32). */
export class BagIndexOutOfRange extends Schema.TaggedError<BagIndexOutOfRange>()("BagIndexOutOfRange", {
  path: Schema.optionalKey(Schema.String),
  row: Schema.Number,
  index: Schema.Number,
  n: Schema.Number
}) {
  override get message(): string {
    return `${where(this.path)}: row ${this.row} names neighbour ${this.index}, outside [0, ${this.n})`
  }
}

/** A row lists its own anchor among other neighbours (a kNN that did not exclude self).
 * Rows made only of the anchor ("isolated" rows, see Bags.ts) are allowed. */
export class BagSelfNeighbour extends Schema.TaggedError<BagSelfNeighbour>()("BagSelfNeighbour", {
  path: Schema.optionalKey(Schema.String),
  row: Schema.Number
}) {
  override get message(): string {
    return `${where(this.path)}: row ${this.row} lists its own anchor among other neighbours`
  }
}

/** The input handed to BagMiner.mine does not fit the configured method (features not a
 * multiple of dim, K >= N, labels missing for label bags, ...). */
export class InvalidMinerInput extends Schema.TaggedError<InvalidMinerInput>()("InvalidMinerInput", {
  method: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot mine ${this.method} bags: ${this.reason}`
  }
}

/** BagMiner.layer was given options that cannot work (no clusters for k-means, K < 1, ...). */
export class InvalidMinerOptions extends Schema.TaggedError<InvalidMinerOptions>()("InvalidMinerOptions", {
  method: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid bag miner options (method '${this.method}'): ${this.reason}`
  }
}

/** A malformed bag matrix (wrong row count, bad index, self among neighbours). */
export type BagValidationError = BagShapeMismatch | BagIndexOutOfRange | BagSelfNeighbour

/** Everything reading a .npy file can fail with. */
export type NpyReadError = NpyFormatError | NpyUnsupportedDtype | BagFileError

/** Every error of this package. */
export type BagMinerError = NpyReadError | BagValidationError | InvalidMinerInput | InvalidMinerOptions
