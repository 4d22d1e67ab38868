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

/** `usearch` (an optional dependency of @bingo/bag-miner: HNSW search) cannot be loaded. */
export class UsearchUnavailable extends Schema.TaggedError<UsearchUnavailable>()("UsearchUnavailable", {
  reason: Schema.String
}) {
  override get message(): string {
    return `approximate kNN (bags.search: hnsw, or auto above bags.exactUpTo) needs usearch 2.25.3, which cannot be loaded (${this.reason}); install it with \`ONNXRUNTIME_NODE_INSTALL=skip pnpm install\` (it is an optional dependency of @bingo/bag-miner), or set bags.search: exact`
  }
}

/** usearch refused an operation (building, saving, loading or searching an index). */
export class HnswFailed extends Schema.TaggedError<HnswFailed>()("HnswFailed", {
  operation: Schema.String,
  path: Schema.optionalKey(Schema.String),
  reason: Schema.String
}) {
  override get message(): string {
    return `HNSW ${this.operation}${this.path === undefined ? "" : ` ${this.path}`} failed: ${this.reason}`
  }
}

/** Embedding shards (features-<i>-of-<n>.npy + rows-<i>-of-<n>.npy) that a step needs are not there (or not finished). */
export class EmbeddingShardsMissing extends Schema.TaggedError<EmbeddingShardsMissing>()("EmbeddingShardsMissing", {
  dir: Schema.String,
  missing: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `${this.dir}: embedding shards missing or unfinished: ${this.missing.join(", ")}; run \`bingo embed <config.yaml> --shard i/n\` for each (a shard is finished when its rows file exists)`
  }
}

/** The embedding shard files do not form one set: different shard counts, widths or row ranges. */
export class EmbeddingShardsMismatch extends Schema.TaggedError<EmbeddingShardsMismatch>()("EmbeddingShardsMismatch", {
  dir: Schema.String,
  files: Schema.Array(Schema.String),
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.dir}: embedding shards do not agree (${this.files.join(", ")}): ${this.reason}`
  }
}

/**
 * \`bingo bags index\` or \`bags search\` was started as an array of a number of tasks that does not
 * fit the n embedding shards: index needs n tasks, search n*n.
 */
export class TaskCountMismatch extends Schema.TaggedError<TaskCountMismatch>()("TaskCountMismatch", {
  step: Schema.Literals(["index", "search"]),
  tasks: Schema.Number,
  shards: Schema.Number
}) {
  override get message(): string {
    const n = this.shards
    return this.step === "index"
      ? `bags index: ${this.tasks} tasks, but there are ${n} embedding shards (one index task per shard: --shard s/${n})`
      : `bags search: ${this.tasks} tasks, but ${n} embedding shards need ${n} x ${n} = ${n * n} (task t searches query shard floor(t/${n}) against index shard t mod ${n})`
  }
}

/** A step needs files an earlier step writes (an HNSW index, partial top-k lists) that are not there. */
export class ShardOutputsMissing extends Schema.TaggedError<ShardOutputsMissing>()("ShardOutputsMissing", {
  dir: Schema.String,
  step: Schema.String,
  missing: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `${this.dir}: missing ${this.missing.join(", ")}; run \`bingo bags ${this.step} <config.yaml>\` for those shards first`
  }
}

/** Partial top-k lists that cannot be merged: searched with another K, another search mode, or of the wrong shape. */
export class ShardOutputsMismatch extends Schema.TaggedError<ShardOutputsMismatch>()("ShardOutputsMismatch", {
  files: Schema.Array(Schema.String),
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.files.join(", ")}: ${this.reason}`
  }
}

/** An approximate search returned fewer than K neighbours for a row (a too small expansion, or a disconnected graph). */
export class NeighboursMissing extends Schema.TaggedError<NeighboursMissing>()("NeighboursMissing", {
  row: Schema.Number,
  found: Schema.Number,
  k: Schema.Number
}) {
  override get message(): string {
    return `row ${this.row}: the search found ${this.found} of its K=${this.k} neighbours; raise bags.hnsw.expansionSearch or set bags.search: exact`
  }
}

/** A malformed bag matrix (wrong row count, bad index, self among neighbours). */
export type BagValidationError = BagShapeMismatch | BagIndexOutOfRange | BagSelfNeighbour

/** Everything reading a .npy file can fail with. */
export type NpyReadError = NpyFormatError | NpyUnsupportedDtype | BagFileError

/** Every error of this package. */
export type BagMinerError =
  | NpyReadError
  | BagValidationError
  | InvalidMinerInput
  | InvalidMinerOptions
  | UsearchUnavailable
  | HnswFailed
  | EmbeddingShardsMissing
  | EmbeddingShardsMismatch
  | TaskCountMismatch
  | ShardOutputsMissing
  | ShardOutputsMismatch
  | NeighboursMissing
