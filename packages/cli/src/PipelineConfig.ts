import { AugmentConfigSchema } from "@bingo/data"
import { Effect, Schema } from "effect"
import { teacherFormatNames } from "@bingo/teacher"

const withDefault = <S extends Schema.Top>(schema: S, value: S["Encoded"]) =>
  schema.pipe(Schema.withDecodingDefaultKey(Effect.succeed(value)))

const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))
const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const PositiveNumber = Schema.Number.check(Schema.isGreaterThan(0))
const NonNegativeNumber = Schema.Number.check(Schema.isGreaterThanOrEqualTo(0))
const Probability = Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 1 }))

/**
 * Epoch budget, SGD (momentum, weight decay), the lr schedule and the queue size: shared by teacher
 * pre-training and distillation. `lr` is per 256 images by default (`lrScaling: per-256`, the linear
 * scaling rule of MoCo / SimCLR: the rate used is lr * batchSize / 256), MoCo-v2's 0.03, reached by
 * a linear warm-up over `lrWarmupEpochs` and then decayed with a per-epoch cosine.
 * `lrScaling: none` reads `lr` as the rate at this batch size.
 */
const OptimisationFields = {
  epochs: withDefault(PositiveInt, 10),
  batchSize: withDefault(PositiveInt, 128),
  lr: withDefault(PositiveNumber, 0.03),
  lrScaling: withDefault(Schema.Literals(["per-256", "none"]), "per-256"),
  lrWarmupEpochs: withDefault(NonNegativeNumber, 1),
  momentum: withDefault(Probability, 0.9),
  weightDecay: withDefault(NonNegativeNumber, 1e-4),
  /** Keys in the queue of negatives; "auto": a quarter of the training set, to a power of two, at most 4,096 (see resolveQueueSize). */
  queueSize: withDefault(Schema.Union([PositiveInt, Schema.Literal("auto")]), "auto")
}

/** A backbone + projection head. */
export const EncoderSection = Schema.Struct({
  backbone: Schema.String,
  widthMultiplier: withDefault(PositiveNumber, 1),
  stem: Schema.optionalKey(Schema.Literals(["imagenet", "cifar"])),
  headHidden: withDefault(PositiveInt, 512),
  embeddingDim: withDefault(PositiveInt, 128)
})

/** How a teacher model file (ONNX, TF.js) takes its images: `teacher.input`. */
export const TeacherInputSection = Schema.Struct({
  /** Axis order of the model's image input; default NCHW for onnx, NHWC for tfjs. */
  layout: Schema.optionalKey(Schema.Literals(["NCHW", "NHWC"])),
  /**
   * The normalisation the model expects on pixels in [0, 1] (one value or one per channel); default: what a model bingo
   * exported records (userDefinedMetadata.preprocessing), else the run's augment.mean / std.
   */
  mean: Schema.optionalKey(Schema.Array(Schema.Finite).check(Schema.isMinLength(1))),
  std: Schema.optionalKey(Schema.Array(Schema.Finite.check(Schema.isGreaterThan(0))).check(Schema.isMinLength(1))),
  /** Side of the images the model takes (views are resized); default: the model's fixed size, else the view size. */
  size: Schema.optionalKey(PositiveInt),
  /** The model's image input, for graphs with several inputs. */
  name: Schema.optionalKey(Schema.String)
})

export const TeacherSection = Schema.Struct({
  ...EncoderSection.fields,
  /** The teacher's backbone: required unless the teacher is a model file (weightsFormat onnx, tfjs). */
  backbone: Schema.optionalKey(Schema.String),
  /** A pre-trained teacher (.safetensors of this encoder, an .onnx file, a TF.js model.json); without it, MoCo-v2 pre-training runs here. */
  weights: Schema.optionalKey(Schema.String),
  /**
   * Which teacher registry entry loads it (`bingo teachers` lists them with the keys each reads): "bingo" (a
   * teacher.safetensors bingo wrote, or pre-trained here without weights), "torchvision" (a PyTorch checkpoint exported
   * to .safetensors), "onnx" (an ONNX graph, run by onnxruntime-node), "tfjs" (a TF.js layers or graph model).
   */
  weightsFormat: withDefault(Schema.Literals(teacherFormatNames), "bingo"),
  /** torchvision format: the name prefix to strip (default: detected, e.g. module.encoder_q.). */
  weightsPrefix: Schema.optionalKey(Schema.String),
  /** torchvision format: "require" the MoCo-v2 head (fc.0 / fc.2) or "skip" it (backbone only). */
  weightsHead: withDefault(Schema.Literals(["require", "skip"]), "require"),
  /** onnx, tfjs: the output (ONNX output, TF.js layer or graph node) with the pooled backbone features (bags, evaluation). */
  featureOutput: Schema.optionalKey(Schema.String),
  /** onnx, tfjs: the output with the head's embedding (the loss's keys, L2-normalised by bingo); default: the features. */
  embeddingOutput: Schema.optionalKey(Schema.String),
  /** onnx, tfjs: how the model takes its images. */
  input: Schema.optionalKey(TeacherInputSection),
  bnMode: withDefault(Schema.Literals(["eval", "batch-stats"]), "eval"),
  pretrain: withDefault(
    Schema.Struct({
      ...OptimisationFields,
      temperature: withDefault(PositiveNumber, 0.2),
      keyMomentum: withDefault(Probability, 0.99),
      checkpointEverySteps: withDefault(NonNegativeInt, 0)
    }),
    {}
  )
})

/** `bags.hnsw`: the HNSW index of approximate kNN (usearch); each key defaults as `defaultHnswOptions` says (16 / 128 / 64 / f16 / auto). */
export const HnswSection = Schema.Struct({
  connectivity: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(2))),
  expansionAdd: Schema.optionalKey(PositiveInt),
  expansionSearch: Schema.optionalKey(PositiveInt),
  quantization: Schema.optionalKey(Schema.Literals(["f32", "f16", "bf16", "i8"])),
  threads: Schema.optionalKey(Schema.Union([PositiveInt, Schema.Literal("auto")]))
})

export const BagsSection = Schema.Struct({
  method: withDefault(Schema.Literals(["knn", "kmeans", "labels", "random"]), "knn"),
  k: withDefault(PositiveInt, 5),
  clusters: Schema.optionalKey(PositiveInt),
  /** Use this N x K .npy bag file instead of mining (e.g. one from the PyTorch reference). */
  file: Schema.optionalKey(Schema.String),
  /**
   * kNN search (docs/scaling.md): "auto" (default: exact up to `exactUpTo` rows, HNSW above), "exact" (matMul + top-k,
   * N^2 D) or "hnsw" (approximate, its recall@K measured and logged). The search keys are optional without a decoding
   * default, so configs that leave them out decode (and `bingo check` prints them) as before; their defaults live in
   * @bingo/bag-miner's KnnSearch.ts.
   */
  search: Schema.optionalKey(Schema.Literals(["auto", "exact", "hnsw"])),
  /** Largest N searched exactly under search auto (default 100,000, measured with `pnpm bench:bags`: docs/scaling.md). */
  exactUpTo: Schema.optionalKey(NonNegativeInt),
  /** HNSW: anchors whose neighbours are checked against exact search for the reported recall@K (default 1,000, drawn with `seed`). */
  recallSample: Schema.optionalKey(NonNegativeInt),
  hnsw: Schema.optionalKey(HnswSection)
})

export const DistillSection = Schema.Struct({
  ...OptimisationFields,
  studentKeyMomentum: withDefault(Probability, 0.99),
  checkpointEverySteps: withDefault(NonNegativeInt, 0),
  resume: withDefault(Schema.Boolean, true),
  loss: withDefault(
    Schema.Struct({
      name: withDefault(Schema.String, "bingo"),
      options: withDefault(Schema.Record(Schema.String, Schema.Unknown), {})
    }),
    {}
  )
})

export const EvalSection = Schema.Struct({
  knn: withDefault(Schema.Struct({ k: withDefault(PositiveInt, 200), temperature: withDefault(PositiveNumber, 0.07) }), {}),
  linear: withDefault(
    Schema.Struct({
      epochs: withDefault(PositiveInt, 30),
      batchSize: withDefault(PositiveInt, 256),
      lr: withDefault(PositiveNumber, 0.1),
      momentum: withDefault(Probability, 0.9),
      weightDecay: withDefault(NonNegativeNumber, 0)
    }),
    {}
  ),
  /** Also evaluate a randomly initialised student of the same architecture (the floor to beat). */
  randomBaseline: withDefault(Schema.Boolean, true),
  /** Also evaluate the teacher (the ceiling). */
  teacher: withDefault(Schema.Boolean, true),
  /** Semi-supervised linear probes: each fraction (0 < f <= 1) of the training labels, class-balanced, fixed subset (e.g. [0.01, 0.1]). */
  semiSupervised: withDefault(Schema.Array(Schema.Number.check(Schema.isGreaterThan(0), Schema.isLessThanOrEqualTo(1))), [])
})

/** The whole pipeline, as written in a YAML file. Unknown keys are errors. */
export const PipelineConfig = Schema.Struct({
  name: withDefault(Schema.String, "bingo-run"),
  seed: withDefault(NonNegativeInt, 0),
  backend: withDefault(Schema.Literals(["auto", "tensorflow-gpu", "tensorflow", "cpu-native", "wasm", "cpu"]), "auto"),
  /** Where weights, bags, checkpoints and results go (relative to the config file). */
  outDir: withDefault(Schema.String, "runs/bingo-run"),
  /** A line in <outDir>/metrics.jsonl every this many training steps (and one per epoch); docs/metrics.md. */
  metricsEvery: withDefault(PositiveInt, 10),
  /** Extra loss modules (paths relative to the config file), each default-exporting defineLoss({...}). */
  plugins: withDefault(Schema.Array(Schema.String), []),
  dataset: Schema.Struct({
    name: Schema.String,
    options: withDefault(Schema.Record(Schema.String, Schema.Unknown), {})
  }),
  /** MoCo-v2 "aug+" settings, data's schema: `outputSize` defaults to the dataset's image height (`augmentOf`). */
  augment: withDefault(AugmentConfigSchema, {}),
  teacher: TeacherSection,
  bags: withDefault(BagsSection, {}),
  student: EncoderSection,
  distill: withDefault(DistillSection, {}),
  eval: withDefault(EvalSection, {})
})

export type PipelineConfig = typeof PipelineConfig.Type
