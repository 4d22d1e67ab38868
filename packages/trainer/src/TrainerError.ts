import { Schema } from "effect"

/** Bags and dataset disagree (a bag file from another dataset, say). */
export class BagsDoNotMatchDataset extends Schema.TaggedError<BagsDoNotMatchDataset>()("BagsDoNotMatchDataset", {
  bagsN: Schema.Number,
  datasetN: Schema.Number
}) {
  override get message(): string {
    return `bags cover ${this.bagsN} samples but the dataset has ${this.datasetN}`
  }
}

/** Fewer samples than one batch: with the last partial batch dropped, no step would run. */
export class DatasetSmallerThanBatch extends Schema.TaggedError<DatasetSmallerThanBatch>()("DatasetSmallerThanBatch", {
  datasetN: Schema.Number,
  batchSize: Schema.Number
}) {
  override get message(): string {
    return `the dataset has ${this.datasetN} samples, fewer than one batch of ${this.batchSize} (partial batches are dropped, so no step would run); lower the batch size`
  }
}

/** Teacher and student embeddings must have the same width for s . t. */
export class EmbeddingDimMismatch extends Schema.TaggedError<EmbeddingDimMismatch>()("EmbeddingDimMismatch", {
  teacher: Schema.Number,
  student: Schema.Number
}) {
  override get message(): string {
    return `teacher embeddingDim ${this.teacher} != student embeddingDim ${this.student}; set student.embeddingDim to ${this.teacher}`
  }
}
