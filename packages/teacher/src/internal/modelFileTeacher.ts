import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { extractFeaturesWith, l2Normalize } from "@bingo/backbones"
import { type AugmentConfig, type ImageSource, resolveAugmentConfig } from "@bingo/data"
import { adaptViews, type ModelInput, type Normalisation, type TeacherInputOptions } from "../teacherInput.ts"
import type { TeacherShape } from "../Teacher.ts"
import { type TeacherInferenceFailed, TeacherNameNotFound, TeacherShapeMismatch } from "../TeacherError.ts"

/** An error's first line, without its stack: what a runtime (onnxruntime, TF.js) says went wrong. */
export const reasonOf = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split("\n")[0]!.trim()

/** A model's image input as its file declares it: name, element type, dimensions (-1: any size). */
export interface DeclaredInput {
  readonly name: string
  readonly type: string
  readonly dims: ReadonlyArray<number>
}

/** A loaded model file, as a teacher format gives it to {@link modelFileTeacher}. */
export interface ModelFile {
  readonly path: string
  readonly format: string
  readonly runtime: TeacherShape["runtime"]
  /** For the results table: the file's name. */
  readonly architecture: string
  /** Every value stored in the file's weights. */
  readonly parameterCount: number
  /** The weights' identity (e.g. FNV-1a of their bytes); the outputs and input settings are added to it. */
  readonly weightsFingerprint: string
  /** The image inputs the file declares. */
  readonly inputs: ReadonlyArray<DeclaredInput>
  /** The names an output may be read from (ONNX outputs, TF.js layers or graph nodes). */
  readonly outputNames: ReadonlyArray<string>
  /** The largest batch one call takes, when the file fixes it (an ONNX export with a fixed batch). */
  readonly fixedBatch?: number | undefined
  /**
   * The named outputs of a batch already in the model's layout, normalisation and size, each as a
   * tensor [batch, ...] the caller disposes. Must leave nothing else behind.
   */
  readonly run: (x: tf.Tensor4D, outputs: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<tf.Tensor>, TeacherInferenceFailed>
}

/** Which outputs to read and how the model takes its images: a model-file teacher's settings. */
export interface ModelFileOptions {
  /** The output with the pooled backbone features ([batch, D], or a 4-D feature map averaged over its spatial axes): bags and evaluation. */
  readonly featureOutput: string
  /** The output with the projection head's embedding [batch, D] (L2-normalised here) for the loss; default: the features. */
  readonly embeddingOutput?: string | undefined
  readonly input: TeacherInputOptions
  /** The run's views: their augmentation (view size, mean and std) and the dataset's channels. */
  readonly views: { readonly augment: AugmentConfig; readonly channels: number }
  /** The normalisation the file says its model expects (bingo's exports record it), used when `input` gives none. */
  readonly declaredNormalisation?: Partial<Normalisation> | undefined
}

const inputDims = (input: Pick<ModelInput, "layout" | "channels" | "size">, batch: number): Array<number> =>
  input.layout === "NCHW" ? [batch, input.channels, input.size, input.size] : [batch, input.size, input.size, input.channels]

/**
 * A frozen teacher around a model file (ONNX, TF.js): checks the named outputs and the image input
 * against the run's views, runs one batch of blank views through the whole path (so a shape the
 * runtime refuses fails here, naming the config key), and answers `embedKeys` / `embedDataset` by
 * converting the run's views to the model's input (`adaptViews`) and reading the named outputs.
 */
export const modelFileTeacher = (file: ModelFile, options: ModelFileOptions) =>
  Effect.gen(function* () {
    const { path } = file
    const view = resolveAugmentConfig(options.views.augment)
    const input = yield* resolveInput(file, options, view.outputSize)
    for (const [field, name] of [
      ["teacher.featureOutput", options.featureOutput],
      ["teacher.embeddingOutput", options.embeddingOutput]
    ] as const) {
      if (name !== undefined && !file.outputNames.includes(name)) {
        return yield* new TeacherNameNotFound({ path, field, name, available: [...file.outputNames] })
      }
    }
    const embeddingOutput = options.embeddingOutput ?? options.featureOutput
    const outputNames = [...new Set([options.featureOutput, embeddingOutput])]

    /** The model's outputs for a batch of views normalised with `norm`, in batches of at most `fixedBatch` (the last one padded). */
    const run = (views: tf.Tensor4D, norm: Normalisation) =>
      Effect.gen(function* () {
        const adapted = adaptViews(views, norm, input.model)
        const n = adapted.shape[0]
        const chunk = file.fixedBatch ?? n
        if (chunk >= n && file.fixedBatch === undefined) {
          return yield* file.run(adapted, outputNames).pipe(Effect.ensuring(Effect.sync(() => adapted.dispose())))
        }
        const parts: Array<ReadonlyArray<tf.Tensor>> = []
        const release = Effect.sync(() => {
          adapted.dispose()
          for (const p of parts) tf.dispose([...p])
        })
        return yield* Effect.gen(function* () {
          for (let start = 0; start < n; start += chunk) {
            const m = Math.min(chunk, n - start)
            const batch = tf.tidy(() => {
              const rows = tf.slice(adapted, start, m)
              const [, a, b, c] = adapted.shape
              return m < chunk ? tf.concat([rows, tf.zeros([chunk - m, a, b, c])]) : rows
            }) as tf.Tensor4D
            const outs = yield* file.run(batch, outputNames).pipe(Effect.ensuring(Effect.sync(() => batch.dispose())))
            parts.push(outs.map((o) => tf.tidy(() => tf.slice(o, 0, m))))
            tf.dispose([...outs])
          }
          return outputNames.map((_, i) => tf.concat(parts.map((p) => p[i]!)))
        }).pipe(Effect.ensuring(release))
      })

    /** An output as [batch, D]: a 4-D feature map is averaged over its spatial axes (in the input's layout). */
    const asRows = (out: tf.Tensor): tf.Tensor2D =>
      tf.tidy(() => {
        if (out.rank === 2) return tf.cast(out, "float32") as tf.Tensor2D
        return tf.mean(tf.cast(out, "float32"), input.model.layout === "NCHW" ? [2, 3] : [1, 2]) as tf.Tensor2D
      })
    const output = (name: string) => outputNames.indexOf(name)

    // one batch of blank views through the whole path: the shapes are checked by the runtime itself
    const probeBatch = file.fixedBatch ?? 2
    const probe = yield* Effect.acquireUseRelease(
      Effect.sync(() => tf.zeros([probeBatch, view.outputSize, view.outputSize, options.views.channels]) as tf.Tensor4D),
      (x) => run(x, view),
      (x) => Effect.sync(() => x.dispose())
    ).pipe(
      Effect.catchTag("TeacherInferenceFailed", (e) =>
        Effect.fail(
          new TeacherShapeMismatch({
            path,
            field: "teacher.input",
            reason: `a batch of ${probeBatch} views of ${view.outputSize}x${view.outputSize}x${options.views.channels}, fed as ${input.model.layout} [${inputDims(input.model, probeBatch).join(", ")}], fails: ${e.reason}`
          })
        )
      )
    )
    const probeShapes = probe.map((t) => t.shape)
    tf.dispose([...probe])
    for (const [field, name, ranks] of [
      [options.embeddingOutput === undefined ? "teacher.featureOutput" : "teacher.embeddingOutput", embeddingOutput, [2]],
      ["teacher.featureOutput", options.featureOutput, [2, 4]]
    ] as const) {
      const dims = probeShapes[output(name)]!
      if (!(ranks as ReadonlyArray<number>).includes(dims.length) || dims[0] !== probeBatch) {
        return yield* new TeacherShapeMismatch({
          path,
          field,
          reason: `output '${name}' has shape [${dims.join(", ")}] for a batch of ${probeBatch}; bingo needs [batch, D]${ranks.length > 1 ? " (or a 4-D feature map, which it averages)" : ""}`,
          expected: [probeBatch, -1],
          actual: dims
        })
      }
    }
    const widthOf = (dims: ReadonlyArray<number>) => (dims.length === 2 ? dims[1]! : input.model.layout === "NCHW" ? dims[1]! : dims[3]!)
    const featureDim = widthOf(probeShapes[output(options.featureOutput)]!)
    const embeddingDim = widthOf(probeShapes[output(embeddingOutput)]!)
    const fingerprint = `${file.format} ${file.weightsFingerprint} ${JSON.stringify({ featureOutput: options.featureOutput, embeddingOutput, input: input.model })}`
    yield* Effect.logInfo(
      `teacher: ${file.format} ${path} in ${file.runtime === "onnxruntime" ? "onnxruntime-node (CPU)" : "TF.js"}: input '${input.name}' ${input.model.layout} ${input.model.channels}x${input.model.size}x${input.model.size}, ` +
        `features '${options.featureOutput}' (${featureDim}), embedding '${embeddingOutput}' (${embeddingDim}${options.embeddingOutput === undefined ? ", the features" : ""})`
    )

    return {
      format: file.format,
      runtime: file.runtime,
      architecture: file.architecture,
      parameterCount: file.parameterCount,
      encoder: undefined,
      embeddingDim,
      bnMode: "eval",
      pretraining: [],
      fingerprint: () => fingerprint,
      embedKeys: (x) =>
        Effect.map(run(x, view), (outs) => {
          const keys = tf.tidy(() => l2Normalize(asRows(outs[output(embeddingOutput)]!)))
          tf.dispose([...outs])
          return keys
        }),
      embedDataset: (dataset: ImageSource, v: AugmentConfig) => {
        const norm = resolveAugmentConfig(v)
        return extractFeaturesWith(
          (x) =>
            Effect.map(run(x, norm), (outs) => {
              const rows = asRows(outs[output(options.featureOutput)]!)
              tf.dispose([...outs])
              return rows
            }),
          dataset,
          v,
          `teacher: embedding ${dataset.name} (${file.format})`
        )
      }
    } satisfies TeacherShape
  })

/**
 * The model's image input checked against the run's views: a float tensor of rank 4 whose fixed
 * channel axis (by `layout`) takes the data's channels (or 3 for grey data, repeated) and whose
 * fixed side, if any, is `input.size` when given.
 */
const resolveInput = (file: ModelFile, options: ModelFileOptions, viewSize: number) =>
  Effect.gen(function* () {
    const path = file.path
    const wanted = options.input.name
    const meta = wanted === undefined ? (file.inputs.length === 1 ? file.inputs[0] : undefined) : file.inputs.find((m) => m.name === wanted)
    if (meta === undefined) {
      return yield* wanted === undefined
        ? new TeacherShapeMismatch({
            path,
            field: "teacher.input.name",
            reason: `the model has ${file.inputs.length} tensor inputs (${file.inputs.map((m) => m.name).join(", ")}); name the image input`
          })
        : new TeacherNameNotFound({ path, field: "teacher.input.name", name: wanted, available: file.inputs.map((m) => m.name) })
    }
    const shown = `[${meta.dims.map((d) => (d < 0 ? "batch" : d)).join(", ")}]`
    if (meta.type !== "float32") {
      return yield* new TeacherShapeMismatch({
        path,
        field: "teacher.input",
        reason: `input '${meta.name}' takes ${meta.type}; bingo feeds float32 images`
      })
    }
    const dims = meta.dims
    const layout = options.input.layout
    const dataChannels = options.views.channels
    if (dims.length !== 4) {
      return yield* new TeacherShapeMismatch({
        path,
        field: "teacher.input",
        reason: `input '${meta.name}' has rank ${dims.length} ${shown}; bingo feeds images of rank 4 (${layout})`,
        expected: layout === "NCHW" ? [-1, dataChannels, -1, -1] : [-1, -1, -1, dataChannels],
        actual: [...dims]
      })
    }
    const [channelAxis, otherAxis] = layout === "NCHW" ? [1, 3] : [3, 1]
    const modelChannels = dims[channelAxis]! > 0 ? dims[channelAxis]! : dataChannels
    if (modelChannels !== dataChannels && !(modelChannels === 3 && dataChannels === 1)) {
      const swapped = dims[otherAxis] === dataChannels
      return yield* new TeacherShapeMismatch({
        path,
        field: swapped ? "teacher.input.layout" : "teacher.input",
        reason:
          `input '${meta.name}' ${shown} takes ${modelChannels} channels on axis ${channelAxis} (${layout}) but the dataset's images have ${dataChannels}` +
          (swapped
            ? `; its axis ${otherAxis} has ${dataChannels}: is the layout ${layout === "NCHW" ? "NHWC" : "NCHW"}?`
            : " (1-channel data are repeated to 3 channels, nothing else is converted)"),
        expected: layout === "NCHW" ? [-1, dataChannels, -1, -1] : [-1, -1, -1, dataChannels],
        actual: [...dims]
      })
    }
    const [h, w] = layout === "NCHW" ? [dims[2]!, dims[3]!] : [dims[1]!, dims[2]!]
    if (h > 0 && w > 0 && h !== w) {
      return yield* new TeacherShapeMismatch({
        path,
        field: "teacher.input",
        reason: `input '${meta.name}' takes ${h}x${w} images; bingo's views are square`,
        actual: [...dims]
      })
    }
    const fixed = h > 0 ? h : w > 0 ? w : undefined
    if (options.input.size !== undefined && fixed !== undefined && options.input.size !== fixed) {
      return yield* new TeacherShapeMismatch({
        path,
        field: "teacher.input.size",
        reason: `${options.input.size}, but input '${meta.name}' ${shown} takes ${fixed}x${fixed} images; set it to ${fixed} or leave it out`,
        expected: inputDims({ layout, channels: modelChannels, size: fixed }, -1),
        actual: inputDims({ layout, channels: modelChannels, size: options.input.size }, -1)
      })
    }
    const view = resolveAugmentConfig(options.views.augment)
    const model: ModelInput = {
      layout,
      size: options.input.size ?? fixed ?? viewSize,
      channels: modelChannels,
      mean: options.input.mean ?? options.declaredNormalisation?.mean ?? view.mean,
      std: options.input.std ?? options.declaredNormalisation?.std ?? view.std
    }
    for (const key of ["mean", "std"] as const) {
      const values = model[key]
      if (values.length !== 1 && values.length !== modelChannels) {
        return yield* new TeacherShapeMismatch({
          path,
          field: `teacher.input.${key}`,
          reason: `${values.length} values for a model that takes ${modelChannels} channels (expected 1${modelChannels > 1 ? ` or ${modelChannels}` : ""})`
        })
      }
    }
    return { name: meta.name, model }
  })
