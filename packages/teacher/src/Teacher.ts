import * as tf from "@tensorflow/tfjs"
import { Context, Effect, Layer } from "effect"
import { existsSync, rmSync } from "node:fs"
import { fnv1a, Rng } from "@bingo/runtime"
import {
  assignParams,
  loadTorchvisionSafetensors,
  type TorchImportOptions,
  createEncoder,
  disposeEncoder,
  embed,
  type Encoder,
  type EncoderSpec,
  extractFeatures,
  parameterCount,
  readWeights,
  saveWeights
} from "@bingo/backbones"
import { type AugmentConfig, type DatasetError, DatasetSource, type ImageSource } from "@bingo/data"
import type { EpochSummary } from "@bingo/training"
import { type MocoOptions, pretrainMoco } from "./pretrainMoco.ts"
import { makeOnnxTeacher, type OnnxTeacherOptions } from "./onnxTeacher.ts"
import { makeTfjsTeacher, type TfjsTeacherOptions } from "./tfjsTeacher.ts"
import { type TeacherInferenceFailed, TeacherWeightsMismatch } from "./TeacherError.ts"

/**
 * How the frozen teacher's batch norm behaves: running statistics are the principled default
 * (docs/method.md, "Where bingo differs from the reference").
 */
export type TeacherBnMode = "eval" | "batch-stats"

/**
 * The frozen teacher of a distillation run. It is never updated: `embedKeys` gives the
 * L2-normalised head embeddings the losses compare against, `embedDataset` the pooled backbone
 * features bags are mined from and the teacher is evaluated on (deterministic preprocessing, no
 * augmentation). A teacher is a bingo encoder run by TF.js (pre-trained here, or loaded from
 * bingo's or PyTorch's weights) or a model file run by its own runtime (ONNX in onnxruntime-node);
 * the trainer and the pipeline use only this interface.
 */
export interface TeacherShape {
  /** Where it came from: "moco" (pre-trained here), "bingo", "torchvision", "onnx", "tfjs", "test". */
  readonly format: string
  /** What runs its passes: the run's TF.js backend, or onnxruntime-node (CPU). */
  readonly runtime: "tfjs" | "onnxruntime"
  /** For the results table: an encoder's backbone, or the model file's name. */
  readonly architecture: string
  /** Parameters of the backbone (an encoder), or every weight stored in the model file. */
  readonly parameterCount: number
  /** The bingo encoder, when the teacher is one (its random-init twin is evaluated too); undefined for model files. */
  readonly encoder: Encoder | undefined
  /** Width of `embedKeys`' embeddings; the student's embeddingDim must equal it. */
  readonly embeddingDim: number
  readonly bnMode: TeacherBnMode
  /** The epochs of its MoCo-v2 pre-training (loss, lr, embedding health), when pre-trained by bingo; else empty. */
  readonly pretraining: ReadonlyArray<EpochSummary>
  /**
   * Identifies the teacher's weights in the distillation checkpoint's fingerprint, so a teacher
   * swapped under an existing outDir is refused rather than resumed: FNV-1a of an encoder's
   * variables, or of a model file's bytes with the outputs and input settings used.
   */
  readonly fingerprint: () => string
  /** Teacher embeddings [B, D] of a batch of augmented views (no gradient flows into the teacher); the caller disposes them. */
  readonly embedKeys: (x: tf.Tensor4D) => Effect.Effect<tf.Tensor2D, TeacherInferenceFailed>
  /** Backbone features of every image of a dataset (center views), [N, featureDim]. */
  readonly embedDataset: (
    dataset: ImageSource,
    view: AugmentConfig
  ) => Effect.Effect<{ readonly values: Float32Array; readonly dim: number }, DatasetError | TeacherInferenceFailed>
}

export class Teacher extends Context.Service<Teacher, TeacherShape>()("@bingo/teacher/Teacher") {
  /** A teacher around an encoder produced by `acquire`; the encoder is disposed with the layer. */
  static readonly fromEncoder = <E, R>(
    acquire: Effect.Effect<Encoder | PretrainedEncoder, E, R>,
    bnMode: TeacherBnMode = "eval",
    format = "bingo"
  ) =>
    Layer.effect(
      Teacher,
      Effect.gen(function* () {
        const acquired = yield* Effect.acquireRelease(acquire, (e) => Effect.sync(() => disposeEncoder("encoder" in e ? e.encoder : e)))
        const encoder = "encoder" in acquired ? acquired.encoder : acquired
        const pretraining = "encoder" in acquired ? acquired.pretraining : []
        for (const v of encoder.params.values()) v.trainable = false
        const embedDataset = Effect.fn("Teacher.embedDataset")(function* (dataset: ImageSource, view: AugmentConfig) {
          return yield* extractFeatures(encoder, dataset, view, `teacher: embedding ${dataset.name}`)
        })
        return Teacher.of({
          format,
          runtime: "tfjs",
          architecture: encoder.spec.backbone,
          parameterCount: parameterCount(encoder.backbone),
          encoder,
          embeddingDim: encoder.spec.embeddingDim,
          bnMode,
          pretraining,
          fingerprint: () => fnv1a([...encoder.params.values()].map((v) => v.dataSync() as Float32Array)),
          embedKeys: (x) => Effect.sync(() => tf.tidy(() => embed(encoder, x, bnMode))),
          embedDataset
        })
      })
    )

  /**
   * An ONNX teacher run by onnxruntime-node (CPU; `onnxruntime-node` is an optional dependency):
   * its embedding pass and each step's keys run there, the student stays in TF.js. The file, the
   * named outputs and the input are checked when the layer is built (`makeOnnxTeacher`).
   */
  static readonly layerOnnx = (options: OnnxTeacherOptions) => Layer.effect(Teacher, Effect.map(makeOnnxTeacher(options), Teacher.of))

  /**
   * A TF.js teacher: a layers or graph model (`model.json` + weight files) read from disk with
   * plain @tensorflow/tfjs and run on the run's backend; outputs chosen by layer or node name
   * (`makeTfjsTeacher`). A student bingo exported (`<outDir>/student-tfjs/`) is one.
   */
  static readonly layerTfjs = (options: TfjsTeacherOptions) => Layer.effect(Teacher, Effect.map(makeTfjsTeacher(options), Teacher.of))

  /** A teacher loaded from a .safetensors file of an encoder with this spec. */
  static readonly layerPretrained = (options: {
    readonly spec: EncoderSpec
    readonly weights: string
    readonly bnMode?: TeacherBnMode
    /**
     * "bingo" (default): a file bingo saved (teacher.safetensors, an encoder's own names).
     * "torchvision": a PyTorch checkpoint exported to .safetensors (torchvision ResNet /
     * MobileNetV2 names, MoCo-v2 head as fc.0 / fc.2, prefixes like module.encoder_q. detected).
     */
    readonly format?: "bingo" | "torchvision"
    readonly torchvision?: TorchImportOptions
  }) =>
    Teacher.fromEncoder(
      Effect.gen(function* () {
        const encoder = createEncoder(options.spec, Rng.fromSeed(0), "teacher")
        const release = Effect.onError(() => Effect.sync(() => disposeEncoder(encoder)))
        if (options.format === "torchvision") {
          const report = yield* loadTorchvisionSafetensors(options.weights, encoder, options.torchvision ?? {}).pipe(release)
          yield* Effect.logInfo(
            `teacher: imported ${report.imported.length} PyTorch tensors from ${options.weights} (prefix '${report.prefix}', ${report.unused.length} unused)`
          )
        } else {
          yield* loadTeacherWeights(options.weights, encoder).pipe(release)
          yield* Effect.logInfo(`teacher: loaded ${options.weights}`)
        }
        return encoder
      }),
      options.bnMode,
      options.format ?? "bingo"
    )

  /**
   * A teacher pre-trained here with MoCo-v2 on the DatasetSource's train split. With
   * `weightsPath`, finished weights are saved there and reused on the next run (so a
   * re-run or a resumed pipeline skips pre-training).
   */
  static readonly layerMoco = (options: {
    readonly spec: EncoderSpec
    readonly augment: AugmentConfig
    readonly moco: MocoOptions
    readonly seed: number
    readonly weightsPath?: string
    readonly bnMode?: TeacherBnMode
  }) =>
    Teacher.fromEncoder(
      Effect.gen(function* () {
        const path = options.weightsPath
        const { train } = yield* (yield* DatasetSource).load
        const {
          logEvery: _logEvery,
          checkpointPath: _checkpointPath,
          checkpointEverySteps: _checkpointEverySteps,
          onStep: _onStep,
          stopAfterSteps: _stopAfterSteps,
          health: _health,
          resume: _resume,
          metrics: _metrics,
          ...moco
        } = options.moco
        const pretrain = JSON.stringify({
          moco,
          seed: options.seed,
          augment: options.augment,
          dataset: { name: train.name, size: train.size, height: train.height, width: train.width, channels: train.channels }
        })
        const checkpointPath =
          options.moco.checkpointPath ?? (path === undefined ? undefined : `${path.replace(/\.safetensors$/, "")}.checkpoint.safetensors`)
        if (path !== undefined && existsSync(path)) {
          // a run killed between writing the weights and removing the pre-training checkpoint left it behind
          if (checkpointPath !== undefined) rmSync(checkpointPath, { force: true })
          const encoder = createEncoder(options.spec, Rng.fromSeed(0), "teacher")
          yield* loadTeacherWeights(path, encoder, pretrain).pipe(Effect.onError(() => Effect.sync(() => disposeEncoder(encoder))))
          yield* Effect.logInfo(`teacher: reusing pre-trained weights ${path}`)
          return { encoder, pretraining: yield* savedPretraining(path) } satisfies PretrainedEncoder
        }
        yield* Effect.logInfo(
          `teacher: MoCo-v2 pre-training ${options.spec.backbone} on ${train.name} (${train.size} images, ${options.moco.epochs} epochs)`
        )
        const trained = yield* pretrainMoco(
          train,
          options.spec,
          options.augment,
          {
            ...options.moco,
            ...(checkpointPath === undefined ? {} : { checkpointPath })
          },
          options.seed
        )
        const encoder = trained.encoder
        if (path !== undefined) {
          // without the timings, so the file's bytes depend only on the training (a resumed run writes the same file)
          const epochs = JSON.stringify(trained.epochs.map(({ imagesPerSecond: _r, seconds: _s, ...e }) => e))
          yield* saveWeights(path, encoder.params, { spec: JSON.stringify(options.spec), pretrain, epochs }).pipe(
            Effect.onError(() => Effect.sync(() => disposeEncoder(encoder)))
          )
          // the weights are complete: the pre-training checkpoint (query, key, queue, momentum) is no longer needed
          if (checkpointPath !== undefined) rmSync(checkpointPath, { force: true })
          yield* Effect.logInfo(`teacher: saved ${path}`)
        }
        return { encoder, pretraining: trained.epochs } satisfies PretrainedEncoder
      }),
      options.bnMode,
      "moco"
    )

  /** A randomly initialised small teacher (16x16x1 inputs, 16-d embeddings): for other packages' tests. */
  static readonly layerTest = Teacher.fromEncoder(
    Effect.sync(() =>
      createEncoder(
        { backbone: "convnet-small", inputShape: [16, 16, 1], widthMultiplier: 0.5, headHidden: 32, embeddingDim: 16 },
        Rng.fromSeed(1),
        "teacher"
      )
    ),
    "eval",
    "test"
  )
}

/** An encoder with the epochs of its pre-training. */
export interface PretrainedEncoder {
  readonly encoder: Encoder
  readonly pretraining: ReadonlyArray<EpochSummary>
}

/** The pre-training epochs a teacher.safetensors records (`epochs` metadata), or none. */
const savedPretraining = (path: string) =>
  readWeights(path).pipe(
    Effect.map((d) => {
      const parsed = parseJsonValue(d.metadata["epochs"])
      return Array.isArray(parsed) ? (parsed as Array<EpochSummary>) : []
    })
  )

const parseJsonValue = (text: string | undefined): unknown => {
  if (text === undefined) return undefined
  try {
    return JSON.parse(text) as unknown
  } catch {
    return undefined
  }
}

const shapeText = (s: ReadonlyArray<number>): string => s.join("x")

const parseJson = (text: string | undefined): Record<string, unknown> | undefined => {
  if (text === undefined) return undefined
  try {
    const v = JSON.parse(text) as unknown
    return typeof v === "object" && v !== null ? (v as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

const flatten = (value: unknown, prefix = "", out: Record<string, string> = {}): Record<string, string> => {
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix === "" ? k : `${prefix}.${k}`, out)
  } else out[prefix] = JSON.stringify(value)
  return out
}

/** `key a (file) vs b (this run)` for the first few (dotted) keys whose values differ. */
const differences = (saved: Record<string, unknown>, wanted: Record<string, unknown>): string => {
  const a = flatten(saved)
  const b = flatten(wanted)
  return [...new Set([...Object.keys(a), ...Object.keys(b)])]
    .filter((k) => a[k] !== b[k])
    .slice(0, 3)
    .map((k) => `${k} ${a[k] ?? "unset"} (file) vs ${b[k] ?? "unset"} (this run)`)
    .join(", ")
}

/**
 * Load weights into the teacher, explaining a mismatch in the terms of the run: a tensor of
 * another shape names the tensor and both shapes and, when the file records the encoder it was
 * saved from (`spec` metadata, written by this project), the input shape or setting that
 * differs. With `pretrain` (weights this pipeline pre-trained and saved in its outDir), weights
 * pre-trained with other settings are refused too: reusing them would silently distil from a
 * stale teacher.
 */
const loadTeacherWeights = (path: string, encoder: Encoder, pretrain?: string) =>
  Effect.gen(function* () {
    const decoded = yield* readWeights(path)
    const savedSpec = parseJson(decoded.metadata["spec"])
    const spec = encoder.spec as unknown as Record<string, unknown>
    const savedInput = Array.isArray(savedSpec?.["inputShape"]) ? (savedSpec["inputShape"] as Array<number>) : undefined
    const inputDiffers = savedInput !== undefined && shapeText(savedInput) !== shapeText(encoder.spec.inputShape)
    const fix =
      pretrain === undefined
        ? ""
        : "; it was written by an earlier run in this outDir with another teacher config: delete it (or use another outDir) to pre-train afresh"
    yield* assignParams(encoder.params, decoded.tensors, path).pipe(
      Effect.catchTag("WeightShapeMismatch", (e) => {
        const [h, w, c] = encoder.spec.inputShape
        const why = inputDiffers
          ? `; the file was saved for ${shapeText(savedInput!)} inputs but this run feeds ${h}x${w}x${c} views (view size ${h} from the augmentation's outputSize, ${c} channel(s) from the dataset)`
          : savedSpec !== undefined && differences(savedSpec, spec) !== ""
            ? `; the file was saved from another encoder: ${differences(savedSpec, spec)}`
            : ""
        return Effect.fail(
          new TeacherWeightsMismatch({
            path,
            reason: `tensor '${e.tensor}' has shape [${e.actual.join(", ")}], expected [${e.expected.join(", ")}]${why}${fix}`,
            tensor: e.tensor,
            expected: e.expected,
            actual: e.actual
          })
        )
      })
    )
    const savedPretrain = parseJson(decoded.metadata["pretrain"])
    const wantedPretrain = parseJson(pretrain)
    if (savedPretrain !== undefined && wantedPretrain !== undefined && differences(savedPretrain, wantedPretrain) !== "") {
      return yield* new TeacherWeightsMismatch({
        path,
        reason: `pre-trained with other settings: ${differences(savedPretrain, wantedPretrain)}${fix}`
      })
    }
    if (inputDiffers) {
      const [h, w, c] = encoder.spec.inputShape
      yield* Effect.logWarning(`teacher: ${path} was saved for ${shapeText(savedInput!)} inputs; this run feeds ${h}x${w}x${c} views`)
    }
  })
